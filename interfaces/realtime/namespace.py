"""The Socket.IO namespace: joins and leaves, validated and acked; connections logged.

python-socketio calls ``on_<event>`` by name, which cannot express ``join:kitchen``,
so ``trigger_event`` dispatches through a dict instead. Every client event gets an
ack dict (sent when the client asked for one): ``{ok: true, room, position,
snapshot?}`` or ``{ok: false, error: {code, message}}``. A bad request never
closes the connection.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, TypeVar

import orjson
import socketio
from pydantic import BaseModel, ValidationError

from infrastructure.read_models import ReadSnapshot
from interfaces.realtime import models
from interfaces.realtime.history import ReplayTooLong
from interfaces.realtime.resume import History, RoomJoiner, SinceAhead, Sources
from interfaces.realtime.rooms import ORDERS, kitchen_room, order_room

_LOG = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES: Final = 4096
"""Larger join/leave payloads are refused with ``payload_too_large``."""

LIVE_STATUSES: Final = ("open", "sent", "preparing", "ready", "served")
"""Order statuses the ``orders`` snapshot lists (completed and cancelled are history)."""

JSON = dict[str, Any]
_M = TypeVar("_M", bound=BaseModel)
Handler = Callable[[str, tuple[Any, ...]], Awaitable[JSON]]


class RequestError(Exception):
    def __init__(self, code: models.ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def error_ack(code: models.ErrorCode, message: str) -> JSON:
    return models.ErrorAck(error=models.AckError(code=code, message=message)).model_dump()


class OrdersNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    """Rooms ``orders``, ``kitchen``, ``kitchen:{station}`` and ``order:{id}``."""

    def __init__(
        self,
        joiner: RoomJoiner,
        sources: Callable[[], Sources | None],
        history: Callable[[], History | None],
        position: Callable[[], int],
        namespace: str = "/",
    ) -> None:
        super().__init__(namespace)
        self._joiner = joiner
        self._sources = sources
        self._history = history
        self._position = position
        self._addresses: dict[str, str] = {}
        self._handlers: Mapping[str, Handler] = {
            "join:kitchen": self._join_kitchen,
            "leave:kitchen": self._leave_kitchen,
            "join:orders": self._join_orders,
            "leave:orders": self._leave_orders,
            "join:order": self._join_order,
            "leave:order": self._leave_order,
        }

    async def trigger_event(self, event: str, *args: Any) -> Any:
        if event == "connect":
            return self._connected(*args)
        if event == "disconnect":
            return self._disconnected(*args)
        sid, payload = args[0], args[1:]
        handler = self._handlers.get(event)
        address = self._addresses.get(sid, "?")
        if handler is None:
            _LOG.warning("sid=%s address=%s sent unknown event %r", sid, address, event)
            return error_ack("unknown_event", f"unknown event {event!r}")
        try:
            return await handler(sid, payload)
        except RequestError as exc:
            _LOG.info(
                "sid=%s address=%s %s refused: %s: %s", sid, address, event, exc.code, exc.message
            )
            return error_ack(exc.code, exc.message)
        except Exception:
            _LOG.exception("sid=%s address=%s %s failed", sid, address, event)
            return error_ack("internal_error", f"{event} failed; try again")

    # --- connection ------------------------------------------------------------------------

    def _connected(self, sid: str, environ: Mapping[str, Any], *_auth: Any) -> bool:
        client = (environ.get("asgi.scope") or {}).get("client")
        address = f"{client[0]}:{client[1]}" if client else environ.get("REMOTE_ADDR", "?")
        _LOG.info(
            "socket connected sid=%s address=%s origin=%s",
            sid,
            address,
            environ.get("HTTP_ORIGIN", "-"),
        )
        self._addresses[sid] = address
        # python-socketio keeps the handshake's environ for the whole connection; its body
        # reader is an instance of a class python-engineio creates per request (a class
        # object and its reference cycles per connection), and nothing reads it again.
        if isinstance(environ, dict):
            environ.pop("wsgi.input", None)
        return True

    def _disconnected(self, sid: str, reason: Any = None) -> None:
        address = self._addresses.pop(sid, "?")
        _LOG.info("socket disconnected sid=%s address=%s reason=%s", sid, address, reason)
        self._joiner.forget(sid)

    # --- joins -----------------------------------------------------------------------------

    async def _join_kitchen(self, sid: str, payload: tuple[Any, ...]) -> JSON:
        request = _parse(models.JoinKitchen, payload)
        station = request.station

        async def read(snap: ReadSnapshot) -> Any:
            return await snap.kitchen_tickets(station)

        return await self._join(sid, kitchen_room(station), request.since, read)

    async def _join_orders(self, sid: str, payload: tuple[Any, ...]) -> JSON:
        request = _parse(models.JoinOrders, payload)
        return await self._join(sid, ORDERS, request.since, _live_orders)

    async def _join_order(self, sid: str, payload: tuple[Any, ...]) -> JSON:
        request = _parse(models.JoinOrder, payload)
        order_id = request.order_id

        async def read(snap: ReadSnapshot) -> Any:
            return await snap.get_order(order_id)

        return await self._join(sid, order_room(order_id), request.since, read)

    async def _join(
        self,
        sid: str,
        room: str,
        since: int | None,
        read: Callable[[ReadSnapshot], Awaitable[Any]],
    ) -> JSON:
        sources = self._sources()
        if sources is None:
            raise RequestError("not_ready", "the service is starting or stopping; retry")
        try:
            joined = await self._joiner.join(sid, room, since, sources, read, self._history())
        except SinceAhead as exc:
            raise RequestError("since_ahead", str(exc)) from None
        except ReplayTooLong as exc:
            raise RequestError("since_too_old", str(exc)) from None
        _LOG.info("sid=%s joined %s at position %d", sid, room, joined.position)
        ack: JSON = {"ok": True, "room": room, "position": max(joined.position, 0)}
        if joined.with_snapshot:
            ack["snapshot"] = joined.snapshot
        return ack

    # --- leaves ----------------------------------------------------------------------------

    async def _leave_kitchen(self, sid: str, payload: tuple[Any, ...]) -> JSON:
        return self._leave(sid, kitchen_room(_parse(models.LeaveKitchen, payload).station))

    async def _leave_orders(self, sid: str, payload: tuple[Any, ...]) -> JSON:
        _parse(models.LeaveOrders, payload)
        return self._leave(sid, ORDERS)

    async def _leave_order(self, sid: str, payload: tuple[Any, ...]) -> JSON:
        return self._leave(sid, order_room(_parse(models.LeaveOrder, payload).order_id))

    def _leave(self, sid: str, room: str) -> JSON:
        self._joiner.leave(sid, room)
        _LOG.info("sid=%s left %s", sid, room)
        return models.LeaveAck(room=room, position=self._position()).model_dump()


async def _live_orders(snap: ReadSnapshot) -> list[JSON]:
    """Every live order, newest first, paged inside the one snapshot transaction."""
    orders: list[JSON] = []
    cursor: str | None = None
    while True:
        page, cursor = await snap.list_orders(status=LIVE_STATUSES, cursor=cursor, limit=500)
        orders.extend(page)
        if cursor is None:
            return orders


def _parse(model: type[_M], payload: tuple[Any, ...]) -> _M:
    """The request model of a client payload: none (or null) means ``{}``."""
    if len(payload) > 1:
        raise RequestError("invalid_payload", "send one object (or nothing) per event")
    data = payload[0] if payload and payload[0] is not None else {}
    if not isinstance(data, dict):
        raise RequestError("invalid_payload", f"expected an object, got {type(data).__name__}")
    try:
        size = len(orjson.dumps(data))
    except orjson.JSONEncodeError as exc:  # e.g. an integer beyond 64 bits
        raise RequestError("invalid_payload", str(exc)) from None
    if size > MAX_PAYLOAD_BYTES:
        raise RequestError(
            "payload_too_large", f"payloads are limited to {MAX_PAYLOAD_BYTES} bytes"
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestError("invalid_payload", _describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in error['loc']) or 'payload'}: {error['msg']}"
        for error in exc.errors()
    )
