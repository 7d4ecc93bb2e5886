"""The composition root: ``create_app(settings)`` builds the ASGI application.

``create_api`` is the FastAPI app: routers, problem+json errors, CORS, correlation ids,
and a lifespan that holds ``open_services`` open (store, read models, projector,
``OrderService``) and hands the ``Services`` over as ``app.state.services``.
``create_app`` is what servers run; it is where the Socket.IO layer wraps the API
(its broadcaster goes into ``create_api``; FastAPI's lifespan must keep running).
Nothing is built at import time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from importlib import metadata
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from infrastructure.broadcast import Broadcaster
from infrastructure.settings import Settings, load_settings
from interfaces.http import admin, asyncapi, events, health, kitchen, orders
from interfaces.http.lane import lane_for
from interfaces.http.middleware import HEADER as CORRELATION_HEADER
from interfaces.http.middleware import BodyLimitMiddleware, CorrelationIdMiddleware
from interfaces.http.problems import install_problem_handlers, problem_openapi
from interfaces.realtime.server import build_realtime
from interfaces.services import Services, open_services

ROUTERS = (orders.router, kitchen.router, events.router, health.router, asyncapi.router)
EXPOSED_HEADERS = ["ETag", CORRELATION_HEADER, "Idempotent-Replayed", "Retry-After"]


def create_app(
    settings: Settings | None = None, *, runtime: Mapping[str, str] | None = None
) -> ASGIApp:
    """The service's ASGI app (``uvicorn --factory interfaces.app:create_app`` works too)."""
    settings = settings or load_settings()
    realtime = build_realtime(settings)
    api = create_api(
        settings, broadcaster=realtime.broadcaster, runtime=runtime, attach=realtime.running
    )
    api.include_router(admin.router(realtime))  # localhost only, not in the OpenAPI document
    return lane_for(api, realtime.asgi(api), settings.command_lane)


def create_api(
    settings: Settings,
    *,
    broadcaster: Broadcaster | None = None,
    runtime: Mapping[str, str] | None = None,
    attach: Callable[[Services], AbstractAsyncContextManager[None]] | None = None,
) -> FastAPI:
    """The REST app; ``attach(services)`` is held open while the services are (Socket.IO)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_services(settings, broadcaster=broadcaster, runtime=runtime) as services:
            app.state.services = services
            async with attach(services) if attach else nullcontext():
                yield

    app = FastAPI(
        title="order-service",
        version=_version(),
        summary="Restaurant orders: event-sourced commands, read models, kitchen board.",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(CorrelationIdMiddleware)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(settings.cors_origins),
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=EXPOSED_HEADERS,
    )
    install_problem_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.openapi = _with_problems(app.openapi)  # type: ignore[method-assign]
    return app


def _with_problems(openapi: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    def schema() -> dict[str, Any]:
        return problem_openapi(openapi())  # idempotent: cached schema is rewritten once

    return schema


def _version() -> str:
    try:
        return metadata.version("order-service")
    except metadata.PackageNotFoundError:
        return "0.0.0"
