"""Order state: the value the decider folds events into."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from domain.frozen import fast_init


class OrderStatus(StrEnum):
    OPEN = "open"
    SENT = "sent"
    PREPARING = "preparing"
    READY = "ready"
    SERVED = "served"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


FINAL_STATUSES = frozenset({OrderStatus.COMPLETED, OrderStatus.CANCELLED})


class ItemStatus(StrEnum):
    NEW = "new"
    HELD = "held"
    SENT = "sent"
    READY = "ready"
    VOIDED = "voided"


class OrderType(StrEnum):
    DINE_IN = "dine_in"
    TAKEOUT = "takeout"
    DELIVERY = "delivery"


@fast_init
@dataclass(frozen=True, slots=True)
class Item:
    item_id: str
    menu_item_id: str
    name: str
    quantity: int
    unit_price: int
    """Integer cents."""
    modifiers: tuple[str, ...] = ()
    notes: str | None = None
    station: str | None = None
    status: ItemStatus = ItemStatus.NEW
    void_reason: str | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class Order:
    """An order folded from its events; ``version`` is the stream version of the last one."""

    order_id: str
    business_day: str
    order_type: OrderType
    table_number: int | None = None
    guest_count: int | None = None
    notes: str | None = None
    status: OrderStatus = OrderStatus.OPEN
    items: tuple[Item, ...] = ()
    version: int = 0
    discarded: bool = False
    cancel_reason: str | None = None
    fired_ever: bool = field(default=False)
