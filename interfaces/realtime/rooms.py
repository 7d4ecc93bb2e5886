"""Room routing: which rooms a projected event reaches, under which event name, with what payload.

Pure functions of one ``ProjectedEvent``, so the live push and a resume replay
route every event the same way. Rooms:

- ``orders``: every order event.
- ``order:{id}``: that order's events.
- ``kitchen``: firings, and the events of orders on the kitchen board before or
  after the event; an order that was never fired never gets there. The firing
  that puts an order on the board is sent as ``order:created`` (a new ticket).
- ``kitchen:{station}``: the ``kitchen`` events that concern the station's items,
  with ``order.items`` cut down to that station; ``order:created`` when the
  station's board gains the ticket.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import orjson

from domain.ports import JSON
from infrastructure.broadcast import ProjectedEvent

ORDERS: Final = "orders"
KITCHEN: Final = "kitchen"

WIRE_EVENTS: Final[dict[str, str]] = {
    "OrderPlaced": "order:created",
    "OrderDetailsChanged": "order:updated",
    "OrderDiscarded": "order:deleted",
    "OrderStatusChanged": "order:status-changed",
    "ItemsAdded": "order-item:added",
    "ItemChanged": "order-item:updated",
    "ItemsFired": "order-item:updated",
    "ItemsHeld": "order-item:updated",
    "ItemsReleased": "order-item:updated",
    "ItemBumped": "order-item:updated",
    "ItemRecalled": "order-item:updated",
    "ItemVoided": "order-item:updated",
    "ItemRemoved": "order-item:removed",
}
"""Stored event type -> the Socket.IO event name the screens listen to (kitchen rooms get
``order:created`` instead for the firing that puts a ticket on their board)."""

_LIVE: Final = frozenset({"sent", "ready"})


def kitchen_room(station: str | None) -> str:
    return KITCHEN if station is None else f"{KITCHEN}:{station}"


def order_room(order_id: str) -> str:
    return f"order:{order_id}"


@dataclass(frozen=True, slots=True)
class RoomMessage:
    """One event as one room receives it."""

    room: str
    event: str
    """The Socket.IO event name (``order:created`` …)."""
    payload: JSON


_SHARED: Final[Any] = object()
"""In a ``_plan``: the room gets the shared payload's own order view."""


def route(projected: ProjectedEvent) -> list[RoomMessage]:
    """Every room message ``projected`` turns into (none for an unknown event type)."""
    base = base_payload(projected)
    return [
        RoomMessage(
            room,
            name,
            _in(room, base) if order is _SHARED else {**_in(room, base), "order": order},
        )
        for room, name, order in _plan(projected)
    ]


def route_texts(projected: ProjectedEvent) -> dict[str, bytes]:
    """``route(projected)`` encoded: each room's message as the Engine.IO text of a
    Socket.IO EVENT for the default namespace (``42[event, payload]``, what a WebSocket
    frame carries), the same bytes as encoding each ``RoomMessage`` on its own. The rooms
    that share the payload (all but the stations') share one encoding of it: each text
    is that encoding with the room's name spliced in front (``payload`` is
    ``{"room": room, **base}``, and orjson writes keys in insertion order)."""
    plan = _plan(projected)
    if not plan:
        return {}
    base = base_payload(projected)
    shared = orjson.dumps(base)[1:]  # the object's members and its closing brace
    texts: dict[str, bytes] = {}
    for room, name, order in plan:
        body = shared if order is _SHARED else orjson.dumps({**base, "order": order})[1:]
        texts[room] = b"".join(
            (b"42[", orjson.dumps(name), b',{"room":', orjson.dumps(room), b",", body, b"]")
        )
    return texts


def _plan(projected: ProjectedEvent) -> list[tuple[str, str, Any]]:
    """``(room, event name, order view)`` for each room ``projected`` reaches, the view
    being ``_SHARED`` where it is the event's own (``projected.order``)."""
    name = WIRE_EVENTS.get(projected.event.type)
    if name is None:
        return []
    plan = [(ORDERS, name, _SHARED), (order_room(projected.order_id), name, _SHARED)]
    if reaches_kitchen(projected):
        plan.append((KITCHEN, _kitchen_name(projected, name, None), _SHARED))
        for station in sorted(projected.stations):
            plan.append(
                (
                    kitchen_room(station),
                    _kitchen_name(projected, name, station),
                    station_view(projected.order, station),
                )
            )
    return plan


def reaches_kitchen(projected: ProjectedEvent) -> bool:
    """Firing always reaches the kitchen; other events only while the order is on the board
    before or after them (so the event that takes a ticket off the board is seen too)."""
    return projected.in_kitchen or projected.was_in_kitchen or projected.event.type == "ItemsFired"


def _kitchen_name(projected: ProjectedEvent, name: str, station: str | None) -> str:
    """``order:created`` for the firing that puts a ticket on a board that did not show it:
    for a kitchen screen that is when the order is created (placing it is not)."""
    if projected.event.type != "ItemsFired" or _was_on_board(projected, station):
        return name
    return "order:created"


def _was_on_board(projected: ProjectedEvent, station: str | None) -> bool:
    if not projected.was_in_kitchen:
        return False
    if station is None:
        return True
    fired = set(projected.event.data.get("item_ids") or ())
    items: list[Any] = (projected.order or {}).get("items") or []
    return any(
        i.get("station") == station and i.get("id") not in fired and i.get("status") in _LIVE
        for i in items
    )


def base_payload(projected: ProjectedEvent) -> JSON:
    """The payload every room shares (``room`` is added per room)."""
    event = projected.event
    return {
        "position": event.position,
        "event_id": event.event_id,
        "event_type": event.type,
        "order_id": event.stream_id,
        "order_version": event.stream_version,
        "occurred_at": _occurred_at(event.metadata, event.recorded_at),
        "data": event.data,
        "order": projected.order,
    }


def station_view(order: JSON | None, station: str) -> JSON | None:
    """The order view with only ``station``'s items."""
    if order is None:
        return None
    items: list[Any] = order.get("items") or []
    return {**order, "items": [i for i in items if i.get("station") == station]}


def _in(room: str, base: JSON) -> JSON:
    return {"room": room, **base}


def _occurred_at(metadata: JSON, recorded_at: datetime) -> str:
    value = metadata.get("occurred_at")
    return value if isinstance(value, str) else recorded_at.isoformat()
