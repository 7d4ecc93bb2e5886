"""Commands: imperative requests, frozen dataclasses.

Ids (order, items) and the business day are filled in by the caller before
``decide`` sees a command, so that deciding stays a pure function.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.events import ItemSpec
from domain.frozen import fast_init
from domain.model import OrderStatus, OrderType


@fast_init
@dataclass(frozen=True, slots=True)
class PlaceOrder:
    order_id: str
    business_day: str
    order_type: OrderType
    items: tuple[ItemSpec, ...] = ()
    table_number: int | None = None
    guest_count: int | None = None
    notes: str | None = None
    fire: bool = True


@fast_init
@dataclass(frozen=True, slots=True)
class ChangeOrderDetails:
    """Change the fields named in ``changed`` to the values given (None clears)."""

    order_id: str
    changed: tuple[str, ...]
    order_type: OrderType | None = None
    table_number: int | None = None
    guest_count: int | None = None
    notes: str | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class DiscardOrder:
    order_id: str


@fast_init
@dataclass(frozen=True, slots=True)
class AddItems:
    order_id: str
    items: tuple[ItemSpec, ...]
    fire: bool = False


@fast_init
@dataclass(frozen=True, slots=True)
class ChangeItem:
    """Change the item fields named in ``changed`` (quantity, modifiers, notes)."""

    order_id: str
    item_id: str
    changed: tuple[str, ...]
    quantity: int | None = None
    modifiers: tuple[str, ...] | None = None
    notes: str | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class RemoveItem:
    order_id: str
    item_id: str


@fast_init
@dataclass(frozen=True, slots=True)
class FireItems:
    """Send items to the kitchen: the listed ones, or every ``new`` item when None."""

    order_id: str
    item_ids: tuple[str, ...] | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class HoldItems:
    """Hold the listed ``new`` items (or every new item when None); ``release`` undoes it."""

    order_id: str
    item_ids: tuple[str, ...] | None = None
    release: bool = False


@fast_init
@dataclass(frozen=True, slots=True)
class BumpItem:
    order_id: str
    item_id: str


@fast_init
@dataclass(frozen=True, slots=True)
class RecallItem:
    order_id: str
    item_id: str


@fast_init
@dataclass(frozen=True, slots=True)
class VoidItem:
    order_id: str
    item_id: str
    reason: str


@fast_init
@dataclass(frozen=True, slots=True)
class ChangeStatus:
    """Move the order to preparing, ready, served, completed or cancelled (reason required)."""

    order_id: str
    status: OrderStatus
    reason: str | None = None


Command = (
    PlaceOrder
    | ChangeOrderDetails
    | DiscardOrder
    | AddItems
    | ChangeItem
    | RemoveItem
    | FireItems
    | HoldItems
    | BumpItem
    | RecallItem
    | VoidItem
    | ChangeStatus
)
