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


async def command_context(
    request: Request,
    x_actor: Annotated[
        str,
        Header(
            min_length=1,
            max_length=100,
            pattern=r"^[!-~][ -~]*$",
            description="Who sends the command (a terminal or user name); recorded on events.",
        ),
    ] = DEFAULT_ACTOR,
    x_correlation_id: Annotated[
        str | None,
        Header(
            description="Correlation id recorded on events and echoed in the response "
            "(one is generated when absent or not 1-200 printable ASCII characters).",
        ),
    ] = None,
) -> CommandContext:
    # The middleware already chose (and will echo) the id; the header is declared here
    # so that it is documented and validated.
    correlation_id: str = request.state.correlation_id
    return CommandContext(actor=x_actor, correlation_id=correlation_id)


ContextDep = Annotated[CommandContext, Depends(command_context)]

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=KEY_PATTERN,
        description="Makes the command safe to retry: a retry with the same key and body "
        "answers the first response and changes nothing.",
    ),
]


async def expected_version(
    if_match: Annotated[
        str | None,
        Header(
            max_length=100,
            description='Apply only if the order is at this version: `"<version>"` (its ETag).',
        ),
    ] = None,
) -> int | None:
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


async def order_command(
    request: Request,
    services: ServicesDep,
    context: ContextDep,
    idempotency_key: IdempotencyKeyHeader = None,
    version: Annotated[int | None, Depends(expected_version)] = None,
) -> CommandRunner:
    return CommandRunner(services, context, request, idempotency_key, version)


async def new_order_command(
    request: Request,
    services: ServicesDep,
    context: ContextDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> CommandRunner:
    return CommandRunner(services, context, request, idempotency_key, None)


OrderCommand = Annotated[CommandRunner, Depends(order_command)]
"""A command on an existing order: honours ``Idempotency-Key`` and ``If-Match``."""

NewOrderCommand = Annotated[CommandRunner, Depends(new_order_command)]
"""Placing an order: honours ``Idempotency-Key``."""
