"""``X-Correlation-ID``: taken from the request (or generated) and echoed on the response."""

from __future__ import annotations

import re
import uuid
from typing import Final

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER: Final = "X-Correlation-ID"
_VALID = re.compile(rb"^[!-~][ -~]{0,199}$")


class CorrelationIdMiddleware:
    """Puts the id in ``request.state.correlation_id`` and in every response's headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        correlation_id = _from_headers(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["correlation_id"] = correlation_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append(HEADER, correlation_id)
            await send(message)

        await self.app(scope, receive, send_with_id)


def _from_headers(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-correlation-id" and _VALID.match(value):
            return bytes(value).decode("ascii")
    return None
