"""Pure ASGI middleware: correlation ids, and a request body size limit.

``X-Correlation-ID`` is taken from the request (or generated) and echoed on the
response. Bodies past ``MAX_BODY_BYTES`` are refused with a 413 problem while they
are read, before anything parses them.
"""

from __future__ import annotations

import re
from typing import Final

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infrastructure.clock import uuid4_hex

HEADER: Final = "X-Correlation-ID"
MAX_BODY_BYTES: Final = 1_000_000
"""Far above the largest valid body (100 items of bounded fields)."""
_VALID = re.compile(rb"^[!-~][ -~]{0,199}$")


class CorrelationIdMiddleware:
    """Puts the id in ``request.state.correlation_id`` and in every response's headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        correlation_id = correlation_id_from(scope) or uuid4_hex()
        scope.setdefault("state", {})["correlation_id"] = correlation_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append(HEADER, correlation_id)
            await send(message)

        await self.app(scope, receive, send_with_id)


def correlation_id_from(scope: Scope) -> str | None:
    """The request's own valid ``X-Correlation-ID`` (the first), if it has one."""
    for name, value in scope["headers"]:
        if name == b"x-correlation-id" and _VALID.match(value):
            return bytes(value).decode("ascii")
    return None


class BodyLimitMiddleware:
    """Counts the body as it is received; past ``max_bytes`` the read raises a 413."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    detail = f"request bodies are limited to {self.max_bytes} bytes"
                    raise HTTPException(413, detail)
            return message

        await self.app(scope, limited_receive, send)
