"""Helpers for the Socket.IO end-to-end suites (``test_realtime_*.py``); no tests here.

``Socket`` is a real ``socketio.AsyncClient`` that records every server event in
arrival order. Waiting is always polling with a deadline (``eventually``), never a
sleep that hopes the server is done.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Self

import httpx
import socketio

from interfaces.realtime.models import SERVER_EVENTS

JSON = dict[str, Any]
ORDER_EVENTS = tuple(name for name in SERVER_EVENTS if name != "room:position")


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], timeout: float = 10.0, what: str = ""
) -> None:
    """Poll ``check`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or check}")
        await asyncio.sleep(0.01)


class Socket:
    """A connected Socket.IO client that records ``(event, payload)`` as they arrive."""

    def __init__(self, base_url: str, headers: Mapping[str, str] | None = None) -> None:
        self.base_url = base_url
        self.headers = dict(headers or {})
        self.sio = socketio.AsyncClient(reconnection=False, handle_sigint=False)
        self.received: list[tuple[str, JSON]] = []
        self.disconnects: list[Any] = []
        self.sio.on("*", self._record)
        self.sio.on("disconnect", self._disconnected)

    async def _record(self, event: str, payload: JSON) -> None:
        self.received.append((event, payload))

    async def _disconnected(self, reason: Any = None) -> None:
        self.disconnects.append(reason)

    async def connect(self, transports: list[str] | None = None) -> Self:
        await self.sio.connect(
            self.base_url,
            headers=self.headers,
            transports=transports or ["websocket"],
            wait_timeout=10,
        )
        return self

    async def call(self, event: str, *payload: Any, timeout: float = 10) -> Any:
        data = payload[0] if len(payload) == 1 else (tuple(payload) if payload else None)
        return await self.sio.call(event, data, timeout=timeout)

    async def join(self, event: str, payload: JSON | None = None) -> JSON:
        ack = await self.call(event, *([payload] if payload is not None else []))
        assert isinstance(ack, dict) and ack.get("ok") is True, ack
        return ack

    def events(self, room: str | None = None, name: str | None = None) -> list[JSON]:
        """Order events received (optionally for one room / one event name)."""
        return [
            p
            for e, p in self.received
            if e in ORDER_EVENTS
            and (room is None or p.get("room") == room)
            and (name is None or e == name)
        ]

    def named(self, room: str) -> list[tuple[str, JSON]]:
        return [(e, p) for e, p in self.received if e in ORDER_EVENTS and p.get("room") == room]

    def positions(self, room: str) -> list[int]:
        return [p["position"] for p in self.events(room)]

    def about(self, order_id: str, room: str | None = None) -> list[JSON]:
        return [p for p in self.events(room) if p["order_id"] == order_id]

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()
        await self.sio.shutdown()

    async def __aenter__(self) -> Self:
        return await self.connect()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def store_events(http: httpx.AsyncClient, after: int = 0) -> list[JSON]:
    """Every stored event after ``after``, through the REST feed."""
    events: list[JSON] = []
    while True:
        response = await http.get("/api/events", params={"after": after, "limit": 1000})
        assert response.status_code == 200, response.text
        page = response.json()
        events.extend(page["events"])
        if not page["events"]:
            return events
        after = page["next_after"]


async def head(http: httpx.AsyncClient) -> int:
    response = await http.get("/api/events", params={"after": 0, "limit": 1})
    return int(response.json()["head"])
