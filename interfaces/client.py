"""Python client for integrators: Socket.IO room subscriptions that resume by
themselves, and REST helpers for the order commands.

It plays the part the web ``getSocket()`` / ``subscribeToKitchen()`` utility
plays for browser screens::

    async with OrderServiceClient("http://127.0.0.1:8000") as client:
        order = await client.place_order({"order_type": "takeout", "items": [...]})
        async with client.subscribe("kitchen") as kitchen:
            print(kitchen.snapshot)
            async for event in kitchen:
                print(event["position"], event["event_type"])

A subscription remembers the last position it delivered; after any
disconnect the client reconnects (with backoff) and re-joins every room with
``since`` set to that position, so the iterator yields every room event once,
in order, with no gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import Any, Self

import httpx
import socketio

log = logging.getLogger(__name__)

JSON = dict[str, Any]


class SubscriptionError(RuntimeError):
    """The server refused a join (its error ack is in ``error``)."""

    def __init__(self, room: str, error: Mapping[str, Any]) -> None:
        super().__init__(f"join {room!r} refused: {error.get('code')}: {error.get('message')}")
        self.room = room
        self.error = dict(error)


class ApiError(RuntimeError):
    """A REST command answered with a problem+json error."""

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        super().__init__(
            f"{status} {problem.get('code') or problem.get('title')}: {problem.get('detail')}"
        )
        self.status = status
        self.problem = dict(problem)


def join_request(room: str, since: int | None) -> tuple[str, JSON]:
    """The Socket.IO join event and payload for a room name."""
    payload: JSON = {} if since is None else {"since": since}
    if room == "orders":
        return "join:orders", payload
    if room == "kitchen":
        return "join:kitchen", payload
    if room.startswith("kitchen:"):
        return "join:kitchen", {**payload, "station": room.removeprefix("kitchen:")}
    if room.startswith("order:"):
        return "join:order", {**payload, "order_id": room.removeprefix("order:")}
    raise ValueError(f"unknown room {room!r}: use orders, kitchen, kitchen:STATION or order:ID")


def leave_request(room: str) -> tuple[str, JSON]:
    event, payload = join_request(room, None)
    return event.replace("join:", "leave:"), payload


class Subscription:
    """One room's event stream: an async iterator that survives reconnects."""

    def __init__(self, client: OrderServiceClient, room: str, since: int | None) -> None:
        self.client = client
        self.room = room
        self.position: int | None = since
        """The last position delivered (or reflected by the snapshot)."""
        self.snapshot: Any = None
        self.error: SubscriptionError | None = None
        """Why the server refused the join (then the subscription is over)."""
        self._queue: asyncio.Queue[JSON | BaseException] = asyncio.Queue()
        self._joined = asyncio.Event()
        self._pending: list[JSON] = []
        self._closed = False

    async def __aenter__(self) -> Self:
        await self.client._add(self)
        await self.wait_joined()
        if self.error is not None:
            await self.close()
            raise self.error
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def wait_joined(self, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self._joined.wait(), timeout)

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self.client._remove(self)

    def __aiter__(self) -> AsyncIterator[JSON]:
        return self

    async def __anext__(self) -> JSON:
        if self._closed and self._queue.empty():
            raise StopAsyncIteration
        item = await self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    async def next(self, timeout: float) -> JSON:
        """The next event, or ``TimeoutError`` after ``timeout`` seconds."""
        return await asyncio.wait_for(self.__anext__(), timeout)

    # -- called by the client -------------------------------------------------
    def _on_joined(self, ack: JSON) -> None:
        if self.position is None:
            self.snapshot = ack.get("snapshot")
            self.position = int(ack.get("position") or 0)
        pending, self._pending = self._pending, []
        self._joined.set()
        for event in pending:
            self._deliver(event)

    def _on_disconnected(self) -> None:
        self._joined.clear()

    def _on_event(self, event: JSON) -> None:
        if not self._joined.is_set():
            self._pending.append(event)
        else:
            self._deliver(event)

    def _on_room_position(self, position: int) -> None:
        if self._joined.is_set() and self.position is not None and position > self.position:
            self.position = position

    def _deliver(self, event: JSON) -> None:
        position = int(event["position"])
        if self.position is not None and position <= self.position:
            return  # already delivered before a reconnect, or reflected by the snapshot
        self.position = position
        self._queue.put_nowait(event)

    def _fail(self, error: BaseException) -> None:
        self._queue.put_nowait(error)

    def _on_refused(self, error: SubscriptionError) -> None:
        # The join is settled, badly: wake wait_joined so ``async with`` raises at once.
        self.error = error
        self._fail(error)
        self._joined.set()


SERVER_EVENTS = (
    "order:created",
    "order:updated",
    "order:deleted",
    "order:status-changed",
    "order-item:added",
    "order-item:updated",
    "order-item:removed",
)


class OrderServiceClient:
    """REST helpers plus self-resuming Socket.IO subscriptions for one service."""

    def __init__(
        self,
        base_url: str,
        *,
        actor: str = "python-client",
        socketio_path: str = "socket.io",
        reconnect_delay: float = 0.2,
        reconnect_delay_max: float = 5.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.actor = actor
        self.socketio_path = socketio_path
        self.reconnect_delay = reconnect_delay
        self.reconnect_delay_max = reconnect_delay_max
        self.headers = dict(headers or {})
        self.http = httpx.AsyncClient(
            base_url=self.base_url, headers={"X-Actor": actor, **self.headers}, timeout=30
        )
        self._subs: dict[str, Subscription] = {}
        self._sio: socketio.AsyncClient | None = None
        self._runner: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._closing = False
        self.connections = 0
        """How many times the socket has (re)connected; useful in tests and dashboards."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- Socket.IO --------------------------------------------------------------
    def subscribe(self, room: str, since: int | None = None) -> Subscription:
        """A subscription to ``room`` (``orders``, ``kitchen``, ``kitchen:grill``,
        ``order:<id>``); use it with ``async with``. Without ``since`` the join
        returns a snapshot (``subscription.snapshot``) and events after it."""
        join_request(room, since)  # validate the name early
        return Subscription(self, room, since)

    async def connect(self, timeout: float = 10.0) -> None:
        """Start the connection loop and wait for the first connection."""
        if self._runner is None:
            self._runner = asyncio.create_task(self._run(), name="order-service-socket")
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def disconnect_socket(self) -> None:
        """Drop the current socket (the loop reconnects and resumes): for tests and tools."""
        if self._sio is not None:
            await self._sio.disconnect()

    async def close(self) -> None:
        self._closing = True
        if self._sio is not None:
            with contextlib.suppress(Exception):
                await self._sio.disconnect()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
            self._runner = None
        for sub in list(self._subs.values()):
            sub._closed = True
            sub._fail(StopAsyncIteration())
        self._subs.clear()
        await self.http.aclose()

    async def _add(self, sub: Subscription) -> None:
        if sub.room in self._subs:
            raise ValueError(f"already subscribed to {sub.room!r}")
        self._subs[sub.room] = sub
        await self.connect()
        if self._sio is not None and self._sio.connected:
            await self._join(self._sio, sub)

    async def _remove(self, sub: Subscription) -> None:
        if self._subs.get(sub.room) is sub:
            del self._subs[sub.room]
            if self._sio is not None and self._sio.connected:
                event, payload = leave_request(sub.room)
                with contextlib.suppress(Exception):
                    await self._sio.call(event, payload, timeout=5)

    async def _join(self, sio: socketio.AsyncClient, sub: Subscription) -> None:
        event, payload = join_request(sub.room, sub.position)
        ack = await sio.call(event, payload, timeout=10)
        if not isinstance(ack, dict) or not ack.get("ok"):
            error = ack.get("error", {}) if isinstance(ack, dict) else {"message": repr(ack)}
            sub._on_refused(SubscriptionError(sub.room, error))
            return
        sub._on_joined(ack)

    def _new_socket(self) -> tuple[socketio.AsyncClient, asyncio.Event]:
        """A socket with our handlers, and an event set when it disconnects."""
        sio = socketio.AsyncClient(reconnection=False, handle_sigint=False)
        for name in SERVER_EVENTS:
            sio.on(name, self._dispatch)
        sio.on("room:position", self._room_position)
        gone = asyncio.Event()
        sio.on("disconnect", lambda *_reason: gone.set())
        return sio, gone

    async def _dispatch(self, payload: JSON) -> None:
        sub = self._subs.get(str(payload.get("room", "")))
        if sub is not None:
            sub._on_event(payload)

    async def _room_position(self, payload: JSON) -> None:
        sub = self._subs.get(str(payload.get("room", "")))
        if sub is not None:
            sub._on_room_position(int(payload.get("position", 0)))

    async def _run(self) -> None:
        delay = self.reconnect_delay
        while not self._closing:
            sio, gone = self._new_socket()
            try:
                await sio.connect(
                    self.base_url,
                    headers=self.headers,
                    transports=["websocket"],
                    socketio_path=self.socketio_path,
                    wait_timeout=10,
                )
                self._sio = sio
                self.connections += 1
                for sub in list(self._subs.values()):
                    await self._join(sio, sub)
                self._connected.set()
                delay = self.reconnect_delay
                # Not sio.wait(): it sleeps a second after every disconnect.
                await gone.wait()
            except (socketio.exceptions.SocketIOError, OSError, TimeoutError) as exc:
                log.info("socket connection failed: %s", exc)
            finally:
                self._connected.clear()
                for sub in self._subs.values():
                    sub._on_disconnected()
                with contextlib.suppress(Exception):
                    await sio.disconnect()
            if self._closing:
                break
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, self.reconnect_delay_max)

    # -- REST -------------------------------------------------------------------
    async def _command(
        self,
        method: str,
        path: str,
        body: JSON | None = None,
        *,
        idempotency_key: str | None = None,
        if_match: int | None = None,
    ) -> JSON:
        headers: dict[str, str] = {}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        if if_match is not None:
            headers["If-Match"] = f'"{if_match}"'
        response = await self.http.request(method, path, json=body, headers=headers)
        return self._json(response)

    @staticmethod
    def _json(response: httpx.Response) -> JSON:
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {"detail": response.text}
            raise ApiError(response.status_code, problem)
        if response.status_code == 204 or not response.content:
            return {}
        result: JSON = response.json()
        return result

    async def place_order(self, order: JSON, **opts: Any) -> JSON:
        return await self._command("POST", "/api/orders", order, **opts)

    async def get_order(self, order_id: str) -> JSON:
        return self._json(await self.http.get(f"/api/orders/{order_id}"))

    async def list_orders(self, **filters: Any) -> JSON:
        params = {k: v for k, v in filters.items() if v is not None}
        return self._json(await self.http.get("/api/orders", params=params))

    async def order_history(self, order_id: str) -> JSON:
        return self._json(await self.http.get(f"/api/orders/{order_id}/events"))

    async def kitchen_tickets(self, station: str | None = None) -> JSON:
        params = {"station": station} if station else {}
        return self._json(await self.http.get("/api/kitchen/tickets", params=params))

    async def events(self, after: int = 0, limit: int = 100) -> JSON:
        return self._json(
            await self.http.get("/api/events", params={"after": after, "limit": limit})
        )

    async def change_details(self, order_id: str, changes: JSON, **opts: Any) -> JSON:
        return await self._command("PATCH", f"/api/orders/{order_id}", changes, **opts)

    async def discard(self, order_id: str, **opts: Any) -> JSON:
        return await self._command("DELETE", f"/api/orders/{order_id}", **opts)

    async def add_items(
        self, order_id: str, items: list[JSON], fire: bool = False, **opts: Any
    ) -> JSON:
        body = {"items": items, "fire": fire}
        return await self._command("POST", f"/api/orders/{order_id}/items", body, **opts)

    async def change_item(self, order_id: str, item_id: str, changes: JSON, **opts: Any) -> JSON:
        path = f"/api/orders/{order_id}/items/{item_id}"
        return await self._command("PATCH", path, changes, **opts)

    async def remove_item(self, order_id: str, item_id: str, **opts: Any) -> JSON:
        return await self._command("DELETE", f"/api/orders/{order_id}/items/{item_id}", **opts)

    async def fire(self, order_id: str, item_ids: list[str] | None = None, **opts: Any) -> JSON:
        body = {} if item_ids is None else {"item_ids": item_ids}
        return await self._command("POST", f"/api/orders/{order_id}/fire", body, **opts)

    async def hold(
        self, order_id: str, item_ids: list[str] | None = None, release: bool = False, **opts: Any
    ) -> JSON:
        body: JSON = {"release": release}
        if item_ids is not None:
            body["item_ids"] = item_ids
        return await self._command("POST", f"/api/orders/{order_id}/hold", body, **opts)

    async def bump(self, order_id: str, item_id: str, **opts: Any) -> JSON:
        path = f"/api/orders/{order_id}/items/{item_id}/bump"
        return await self._command("POST", path, **opts)

    async def recall(self, order_id: str, item_id: str, **opts: Any) -> JSON:
        path = f"/api/orders/{order_id}/items/{item_id}/recall"
        return await self._command("POST", path, **opts)

    async def void(self, order_id: str, item_id: str, reason: str, **opts: Any) -> JSON:
        path = f"/api/orders/{order_id}/items/{item_id}/void"
        return await self._command("POST", path, {"reason": reason}, **opts)

    async def change_status(
        self, order_id: str, status: str, reason: str | None = None, **opts: Any
    ) -> JSON:
        body: JSON = {"status": status}
        if reason is not None:
            body["reason"] = reason
        return await self._command("PATCH", f"/api/orders/{order_id}/status", body, **opts)
