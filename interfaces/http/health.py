"""Operations: liveness, readiness (database and projector) and the runtime report."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
from importlib import metadata
from typing import Final

from fastapi import APIRouter
from fastapi.responses import Response

from interfaces.http.commands import json_response
from interfaces.http.deps import ServicesDep
from interfaces.http.models import Liveness, Readiness, RuntimeInfo

log = logging.getLogger(__name__)

router = APIRouter(tags=["operations"])

READY_TIMEOUT: Final = 2.0
_DISTRIBUTIONS: Final = ("fastapi", "uvicorn", "python-socketio", "python-engineio", "websockets")


@router.get("/health", response_model=Liveness)
async def health() -> Response:
    """Liveness: the process answers."""
    return json_response({"status": "ok"})


@router.get(
    "/health/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready"}},
)
async def ready(services: ServicesDep) -> Response:
    """Ready when the database answers and the projector runs; reports the projector lag."""
    projector = services.projector
    try:
        async with asyncio.timeout(READY_TIMEOUT):
            head = await services.store.head_position()
            await services.read_models.checkpoints()
    except Exception as exc:
        log.warning("readiness: database unreachable: %s", exc)
        body = {"status": "not_ready", "database": False, "projector": None, "detail": str(exc)}
        return json_response(body, 503)
    position = projector.position
    state = {
        "running": projector.running,
        "position": position,
        "head": head,
        "lag": max(0, head - position),
    }
    is_ready = projector.running
    detail = None if is_ready else (projector.last_error or "the projector is not running")
    body = {
        "status": "ready" if is_ready else "not_ready",
        "database": True,
        "projector": state,
        "detail": detail,
    }
    return json_response(body, 200 if is_ready else 503)


@router.get("/api/_runtime", response_model=RuntimeInfo)
async def runtime(services: ServicesDep) -> Response:
    """What serves this process: event loop, HTTP and websocket implementations, versions."""
    loop = asyncio.get_running_loop()
    info = services.runtime
    body = {
        "impl": "order-service",
        "python": sys.version.split()[0],
        "loop": f"{type(loop).__module__}.{type(loop).__name__}",
        "http_protocol": info.get("http_protocol", "unknown"),
        "ws_protocol": info.get("ws_protocol", "unknown"),
        "pid": os.getpid(),
        "gc": {"thresholds": list(gc.get_threshold()), "frozen": gc.get_freeze_count()},
        "versions": {name: _version(name) for name in _DISTRIBUTIONS},
    }
    return json_response(body)


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None
