"""Event and state builders shared by the domain unit tests."""

from __future__ import annotations

from domain.decider import fold
from domain.events import (
    Event,
    ItemBumped,
    ItemsFired,
    ItemsHeld,
    ItemSpec,
    ItemVoided,
    OrderDiscarded,
    OrderPlaced,
    OrderStatusChanged,
)
from domain.model import Order, OrderStatus, OrderType

OID = "order-1"
DAY = "2026-11-25"
S = OrderStatus


def spec(item_id: str, *, quantity: int = 1, unit_price: int = 500) -> ItemSpec:
    return ItemSpec(
        item_id=item_id,
        menu_item_id=f"menu-{item_id}",
        name=f"Dish {item_id}",
        quantity=quantity,
        unit_price=unit_price,
        modifiers=("no onion",),
        station="grill",
    )


def placed(*item_ids: str, order_type: OrderType = OrderType.TAKEOUT) -> OrderPlaced:
    table = 7 if order_type is OrderType.DINE_IN else None
    return OrderPlaced(
        OID, DAY, order_type, tuple(spec(i) for i in item_ids), table_number=table, guest_count=2
    )


def fired(*item_ids: str) -> ItemsFired:
    return ItemsFired(OID, item_ids)


def bumped(item_id: str) -> ItemBumped:
    return ItemBumped(OID, item_id)


def moved(from_status: OrderStatus, to_status: OrderStatus, reason: str | None = None) -> Event:
    return OrderStatusChanged(OID, from_status, to_status, reason)


OPEN: list[Event] = [placed("a", "b")]
SENT: list[Event] = [*OPEN, fired("a", "b")]  # firing is what sends it
PREPARING: list[Event] = [*SENT, moved(S.SENT, S.PREPARING)]
READY: list[Event] = [*SENT, bumped("a"), bumped("b"), moved(S.SENT, S.READY)]
SERVED: list[Event] = [*READY, moved(S.READY, S.SERVED)]
COMPLETED: list[Event] = [*SERVED, moved(S.SERVED, S.COMPLETED)]
CANCELLED: list[Event] = [*SENT, moved(S.SENT, S.CANCELLED, "guest left")]
DISCARDED: list[Event] = [*OPEN, OrderDiscarded(OID)]

HISTORIES: dict[OrderStatus, list[Event]] = {
    S.OPEN: OPEN,
    S.SENT: SENT,
    S.PREPARING: PREPARING,
    S.READY: READY,
    S.SERVED: SERVED,
    S.COMPLETED: COMPLETED,
    S.CANCELLED: CANCELLED,
}
"""A short history that leaves the order in each status (items ``a`` and ``b``), as the
decider writes it now: ``ItemsFired`` itself sends the order (no ``OrderStatusChanged``)."""

EVERY_ITEM_STATUS: list[Event] = [
    placed("new", "held", "sent", "ready", "voided"),
    ItemsHeld(OID, ("held",)),
    fired("sent", "ready", "voided"),
    bumped("ready"),
    ItemVoided(OID, "voided", "dropped"),
]
"""A sent order with one item in each item status, each named after its status."""


def given(*histories: list[Event]) -> Order:
    order = fold(event for history in histories for event in history)
    assert order is not None
    return order
