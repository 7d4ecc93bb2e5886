"""``Annotated`` dependencies the routes declare: services, headers, path parameters.

Every dependency is ``async def``: FastAPI runs a plain ``def`` dependency in a worker
thread, a thread hop per dependency per request.
"""

from __future__ import annotations

import re
from typing import Annotated, Final

from fastapi import Depends, Header, Path, Request

from domain.handlers import CommandContext
from infrastructure.read_models import ReadModels
from interfaces.http.commands import CommandRunner
from interfaces.http.idempotency import KEY_PATTERN
from interfaces.http.models import MAX_ID
from interfaces.http.problems import ApiProblem
from interfaces.services import Services

_ETAG = re.compile(r'^\s*(?:W/)?"(\d{1,15})"\s*$')

DEFAULT_ACTOR: Final = "pos"


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_read_models(services: ServicesDep) -> ReadModels:
    return services.read_models


ReadModelsDep = Annotated[ReadModels, Depends(get_read_models)]

OrderId = Annotated[str, Path(min_length=1, max_length=MAX_ID, description="The order id.")]
ItemId = Annotated[str, Path(min_length=1, max_length=MAX_ID, description="The item id.")]


ActorHeader = Annotated[
    str,
    Header(
        min_length=1,
        max_length=100,
        pattern=r"^[!-~][ -~]*$",
        description="Who sends the command (a terminal or user name); recorded on events.",
    ),
]

CorrelationIdHeader = Annotated[
    str | None,
    Header(
        description="Correlation id recorded on events and echoed in the response "
        "(one is generated when absent or not 1-200 printable ASCII characters).",
    ),
]

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=KEY_PATTERN,
        description="Makes the command safe to retry: a retry with the same key and body "
        "answers the first response and changes nothing.",
    ),
]

IfMatchHeader = Annotated[
    str | None,
    Header(
        max_length=100,
        description='Apply only if the order is at this version: `"<version>"` (its ETag).',
    ),
]


def _context(request: Request, actor: str) -> CommandContext:
    # The middleware already chose (and will echo) the correlation id; the header is
    # declared on the dependencies so that it is documented and validated.
    correlation_id: str = request.state.correlation_id
    return CommandContext(actor=actor, correlation_id=correlation_id)


def expected_version(if_match: str | None) -> int | None:
    """The version an ``If-Match`` header asks for (None: any, or no header)."""
    if if_match is None or if_match.strip() == "*":
        return None
    match = _ETAG.match(if_match)
    if match is None:
        raise ApiProblem(
            412,
            "precondition_failed",
            'If-Match must be one entity tag such as "3" (the order\'s ETag)',
        )
    return int(match.group(1))


def etag_matches(header: str | None, version: int) -> bool:
    """Whether an ``If-None-Match`` value names ``version`` (or is ``*``)."""
    if header is None:
        return False
    wanted = f'"{version}"'
    for tag in header.split(","):
        tag = tag.strip().removeprefix("W/")
        if tag in ("*", wanted):
            return True
    return False


# The two command dependencies take every header themselves rather than through nested
# dependencies: FastAPI's per-request dependency solving costs about as much per nested
# dependency as the rest of the route (measured on S1, docs/performance.md).


async def order_command(
    request: Request,
    x_actor: ActorHeader = DEFAULT_ACTOR,
    x_correlation_id: CorrelationIdHeader = None,
    idempotency_key: IdempotencyKeyHeader = None,
    if_match: IfMatchHeader = None,
) -> CommandRunner:
    services: Services = request.app.state.services
    context = _context(request, x_actor)
    expected = expected_version(if_match)
    return CommandRunner(
        services, context, request.method, request.scope["path"], idempotency_key, expected
    )


async def new_order_command(
    request: Request,
    x_actor: ActorHeader = DEFAULT_ACTOR,
    x_correlation_id: CorrelationIdHeader = None,
    idempotency_key: IdempotencyKeyHeader = None,
) -> CommandRunner:
    services: Services = request.app.state.services
    context = _context(request, x_actor)
    return CommandRunner(
        services, context, request.method, request.scope["path"], idempotency_key, None
    )


OrderCommand = Annotated[CommandRunner, Depends(order_command)]
"""A command on an existing order: honours ``Idempotency-Key`` and ``If-Match``."""

NewOrderCommand = Annotated[CommandRunner, Depends(new_order_command)]
"""Placing an order: honours ``Idempotency-Key``."""
