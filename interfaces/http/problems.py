"""RFC 9457 problem details: every error the API answers, and how exceptions become one.

A problem body is ``{type, title, status, code, detail?, instance?, errors?}`` with the
media type ``application/problem+json``. ``code`` is stable (clients match on it);
``errors`` lists the fields a validation error found. Domain errors keep the code the
domain gave them; the kind decides the status (``DomainError`` subclasses -> 404/409/422).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, Final

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from domain.errors import DomainError, InvalidCommand, ItemNotFound, OrderNotFound, RuleViolation

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"
TYPE_PREFIX: Final = "urn:order-service:problem:"

_DOMAIN_STATUS: Final[tuple[tuple[type[DomainError], int], ...]] = (
    (OrderNotFound, 404),
    (ItemNotFound, 404),
    (RuleViolation, 409),
    (InvalidCommand, 422),
)

_METHODS: Final = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")

_HTTP_CODES: Final = {
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


class FieldError(BaseModel):
    """One field a validation error found: where (``loc``), what (``msg``) and its ``type``."""

    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem detail, with a stable ``code``."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "urn:order-service:problem:item_already_sent",
                    "title": "Conflict",
                    "status": 409,
                    "code": "item_already_sent",
                    "detail": "item 'i-1' was sent to the kitchen: void it instead",
                    "instance": "/api/orders/0b9c.../items/i-1",
                }
            ]
        }
    )

    type: str = Field(
        description="URI naming the problem kind (``urn:order-service:problem:<code>``)."
    )
    title: str = Field(description="The HTTP status phrase.")
    status: int
    code: str = Field(description="Stable machine-readable code (snake_case).")
    detail: str | None = Field(default=None, description="What went wrong, for a human.")
    instance: str | None = Field(default=None, description="The request path.")
    errors: list[FieldError] | None = Field(
        default=None, description="Validation errors, one per offending field."
    )


class ApiProblem(Exception):
    """Raised by routes and dependencies to answer with a problem (412, 409, 422, 503...)."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers
        self.errors = errors


def domain_status(error: DomainError) -> int:
    for kind, status in _DOMAIN_STATUS:
        if isinstance(error, kind):
            return status
    return 422


def command_problem(exc: Exception, path: str) -> Response | None:
    """The problem a command's ``DomainError`` or ``ApiProblem`` answers (None: another
    exception). What the exception handlers answer, for the command lane."""
    if isinstance(exc, DomainError):
        return problem(path, domain_status(exc), exc.code, exc.message)
    if isinstance(exc, ApiProblem):
        return problem(
            path, exc.status, exc.code, exc.detail, headers=exc.headers, errors=exc.errors
        )
    return None


def problem(
    path: str,
    status: int,
    code: str,
    detail: str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> Response:
    """A problem+json response; ``path`` is its ``instance``."""
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + code,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "code": code,
        "instance": path,
    }
    if detail is not None:
        body["detail"] = detail
    if errors is not None:
        body["errors"] = errors
    return Response(
        orjson.dumps(body), status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE
    )


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route: these statuses answer a ``Problem``."""
    return {
        status: {"model": Problem, "description": HTTPStatus(status).phrase} for status in statuses
    }


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(ApiProblem, _api_problem)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)


def problem_openapi(schema: dict[str, Any]) -> dict[str, Any]:
    """Declare every ``Problem`` body of ``schema`` as ``application/problem+json``."""
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            for response in operation.get("responses", {}).values():
                content = response.get("content", {})
                ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
                if ref.endswith("/Problem"):
                    content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
    return schema


async def _domain_error(request: Request, exc: DomainError) -> Response:
    response = command_problem(exc, request.url.path)
    assert response is not None
    return response


async def _api_problem(request: Request, exc: ApiProblem) -> Response:
    response = command_problem(exc, request.url.path)
    assert response is not None
    return response


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    errors = [field_error(error) for error in exc.errors()]
    json_broken = any(error["type"] == "json_invalid" for error in errors)
    code = "malformed_json" if json_broken else "validation_error"
    detail = "the body is not valid JSON" if json_broken else "the request is invalid"
    return problem(request.url.path, 422, code, detail, errors=errors)


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    status = exc.status_code
    if status < 400:  # e.g. a bare 304 raised by a route: no problem body
        return Response(status_code=status, headers=exc.headers)
    code = _HTTP_CODES.get(status, HTTPStatus(status).phrase.lower().replace(" ", "_"))
    detail = exc.detail if isinstance(exc.detail, str) else None
    headers = exc.headers
    if status == 405:  # Starlette names the methods of the first route with this path only
        headers = {**(headers or {}), "Allow": _allowed_methods(request)}
    return problem(request.url.path, status, code, detail, headers=headers)


def _allowed_methods(request: Request) -> str:
    routes = request.app.router.routes
    allowed = [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]
    return ", ".join(allowed)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return problem(request.url.path, 500, "internal_error", "an unexpected error occurred")


def field_error(error: Any) -> dict[str, Any]:
    return {
        "loc": [part if isinstance(part, int) else str(part) for part in error.get("loc", ())],
        "msg": str(error.get("msg", "")),
        "type": str(error.get("type", "")),
    }
