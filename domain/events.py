"""Domain events: past-tense facts, frozen dataclasses.

Every event names its order. The wire/store name of each class is fixed in
``EVENT_TYPES`` (never derived from the class path) so that renaming a class
never breaks replay. ``occurred_at``, actor and correlation/causation ids travel
in the event's metadata (see ``domain.handlers``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from domain.frozen import fast_init
from domain.model import ItemStatus, OrderStatus, OrderType


@fast_init
@dataclass(frozen=True, slots=True)
class ItemSpec:
    """An item as entered on the POS (the shape carried by placing and adding events)."""

    item_id: str
    menu_item_id: str
    name: str
    quantity: int
    unit_price: int
    modifiers: tuple[str, ...] = ()
    notes: str | None = None
    station: str | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class OrderPlaced:
    order_id: str
    business_day: str
    """ISO date of the business day the order belongs to (drives its ticket number)."""
    order_type: OrderType
    items: tuple[ItemSpec, ...]
    table_number: int | None = None
    guest_count: int | None = None
    notes: str | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class OrderDetailsChanged:
    """Only the fields listed in ``changed`` were changed (a field may be set to None)."""

    order_id: str
    changed: tuple[str, ...]
    order_type: OrderType | None = None
    table_number: int | None = None
    guest_count: int | None = None
    notes: str | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class OrderDiscarded:
    order_id: str


@fast_init
@dataclass(frozen=True, slots=True)
class ItemsAdded:
    order_id: str
    items: tuple[ItemSpec, ...]


@fast_init
@dataclass(frozen=True, slots=True)
class ItemChanged:
    """Only the fields listed in ``changed`` were changed."""

    order_id: str
    item_id: str
    changed: tuple[str, ...]
    quantity: int | None = None
    modifiers: tuple[str, ...] | None = None
    notes: str | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class ItemRemoved:
    order_id: str
    item_id: str


@fast_init
@dataclass(frozen=True, slots=True)
class ItemsFired:
    """The items went to the kitchen. An ``open``, ``ready`` or ``served`` order is ``sent``
    after it (the firing is the status change; older streams also carry an explicit
    ``OrderStatusChanged`` to ``sent`` right after it, which folds to the same state)."""

    order_id: str
    item_ids: tuple[str, ...]


@fast_init
@dataclass(frozen=True, slots=True)
class ItemsHeld:
    order_id: str
    item_ids: tuple[str, ...]


@fast_init
@dataclass(frozen=True, slots=True)
class ItemsReleased:
    """Held items back to ``new``."""

    order_id: str
    item_ids: tuple[str, ...]


@fast_init
@dataclass(frozen=True, slots=True)
class ItemBumped:
    order_id: str
    item_id: str


@fast_init
@dataclass(frozen=True, slots=True)
class ItemRecalled:
    order_id: str
    item_id: str


@fast_init
@dataclass(frozen=True, slots=True)
class ItemVoided:
    order_id: str
    item_id: str
    reason: str


@fast_init
@dataclass(frozen=True, slots=True)
class OrderStatusChanged:
    order_id: str
    from_status: OrderStatus
    to_status: OrderStatus
    reason: str | None = None


Event = (
    OrderPlaced
    | OrderDetailsChanged
    | OrderDiscarded
    | ItemsAdded
    | ItemChanged
    | ItemRemoved
    | ItemsFired
    | ItemsHeld
    | ItemsReleased
    | ItemBumped
    | ItemRecalled
    | ItemVoided
    | OrderStatusChanged
)

EVENT_TYPES: Final[dict[str, type[Event]]] = {
    "OrderPlaced": OrderPlaced,
    "OrderDetailsChanged": OrderDetailsChanged,
    "OrderDiscarded": OrderDiscarded,
    "ItemsAdded": ItemsAdded,
    "ItemChanged": ItemChanged,
    "ItemRemoved": ItemRemoved,
    "ItemsFired": ItemsFired,
    "ItemsHeld": ItemsHeld,
    "ItemsReleased": ItemsReleased,
    "ItemBumped": ItemBumped,
    "ItemRecalled": ItemRecalled,
    "ItemVoided": ItemVoided,
    "OrderStatusChanged": OrderStatusChanged,
}
"""The explicit name registry: stored type name -> class."""

EVENT_NAMES: Final[dict[type[Event], str]] = {cls: name for name, cls in EVENT_TYPES.items()}

__all__ = [
    "EVENT_NAMES",
    "EVENT_TYPES",
    "Event",
    "ItemBumped",
    "ItemChanged",
    "ItemRecalled",
    "ItemRemoved",
    "ItemSpec",
    "ItemStatus",
    "ItemVoided",
    "ItemsAdded",
    "ItemsFired",
    "ItemsHeld",
    "ItemsReleased",
    "OrderDetailsChanged",
    "OrderDiscarded",
    "OrderPlaced",
    "OrderStatus",
    "OrderStatusChanged",
    "OrderType",
]
