"""What the read models show of an order: its tracked state and the JSON-ready shapes.

``TrackedOrder`` is the domain ``Order`` (folded with ``domain.decider.evolve``)
plus what the domain state does not hold: the ticket number and the timestamps
and positions taken from the events. ``render_order`` gives the order view
(docs/architecture.md, "Read model view"); ``kitchen_items``/``ticket_item`` what a
kitchen ticket lists. All pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import orjson

from domain.events import Event
from domain.model import Item, ItemStatus, Order, OrderStatus
from domain.ports import JSON, RecordedEvent
from infrastructure.read_models.tables import iso

KITCHEN_STATUSES = frozenset({OrderStatus.SENT, OrderStatus.PREPARING, OrderStatus.READY})
"""Order statuses that keep a ticket on the kitchen board."""

KITCHEN_ITEM_STATUSES = frozenset({ItemStatus.SENT, ItemStatus.READY, ItemStatus.VOIDED})
"""Item statuses a ticket lists: fired work (voided items stay so the cook sees the void)."""

LIVE_ITEM_STATUSES = frozenset({ItemStatus.SENT, ItemStatus.READY})
"""Items that still mean work (or a plate waiting) at their station."""


@dataclass(frozen=True, slots=True)
class OrderMeta:
    """An order's facts that come from its events' positions and metadata, not from ``Order``."""

    number: int | None
    created_at: datetime
    created_position: int
    updated_at: datetime
    position: int
    sent_at: datetime | None = None
    sent_position: int | None = None


@dataclass(frozen=True, slots=True)
class TrackedOrder:
    """An order as of one of its events: domain state plus meta."""

    order: Order
    meta: OrderMeta

    @property
    def version(self) -> int:
        return self.order.version

    @property
    def in_kitchen(self) -> bool:
        return self.order.status in KITCHEN_STATUSES and self.meta.sent_position is not None


class OrderChange:
    """One event applied to one order: the state before and after (None once discarded).

    ``view`` is ``render_order(after)``, rendered on first use and then shared by the
    handlers, the broadcaster and the command responses: a rebuild, which broadcasts
    nothing, renders only the last change of each order in a batch (the one written).
    """

    __slots__ = ("_rendered", "_text", "_view", "after", "before", "domain_event", "event")

    def __init__(
        self,
        event: RecordedEvent,
        domain_event: Event,
        before: TrackedOrder | None,
        after: TrackedOrder | None,
    ) -> None:
        self.event = event
        self.domain_event = domain_event
        """``event`` decoded (and upcast)."""
        self.before = before
        self.after = after
        self._view: JSON | None = None
        self._text: str | None = None
        self._rendered = after is None

    @property
    def view(self) -> JSON | None:
        """The order view after the event; None once the order is discarded."""
        if not self._rendered:
            assert self.after is not None
            self._view = render_order(self.after)
            self._rendered = True
        return self._view

    @property
    def view_text(self) -> str | None:
        """``view`` as JSON text (orjson's), encoded on first use and then shared: the
        ``order_views`` row stores it, command responses embed it (``Projector.view_text_of``)."""
        text = self._text
        if text is None:
            view = self.view
            if view is None:
                return None
            text = self._text = orjson.dumps(view).decode()
        return text

    @property
    def order_id(self) -> str:
        return self.event.stream_id


def occurred_at(event: RecordedEvent) -> datetime:
    """The event's ``occurred_at`` metadata (ISO 8601), else the time it was recorded."""
    return occurred(event.metadata) or event.recorded_at


def occurred(metadata: JSON) -> datetime | None:
    """The ``occurred_at`` an event's metadata holds (ISO 8601), if it holds one."""
    raw = metadata.get("occurred_at")
    return datetime.fromisoformat(raw) if isinstance(raw, str) else None


def order_total(order: Order) -> int:
    """Sum of quantity * unit_price over the items that are not voided, in cents."""
    return sum(i.quantity * i.unit_price for i in order.items if i.status is not ItemStatus.VOIDED)


def render_order(tracked: TrackedOrder) -> JSON:
    """The order view (the shape every read of an order returns).

    Enum members give their value as ``_value_`` (the plain ``str``): ``.value`` is a
    property, a Python call per field, on the projector's path for every order."""
    order, meta = tracked.order, tracked.meta
    # The three times are often one instant (an order placed and fired by one command):
    # each distinct one is formatted once.
    created_at, updated_at, sent_at = meta.created_at, meta.updated_at, meta.sent_at
    created = iso(created_at)
    updated = created if updated_at == created_at else iso(updated_at)
    if sent_at is None:
        sent = None
    elif sent_at == updated_at:
        sent = updated
    else:
        sent = created if sent_at == created_at else iso(sent_at)
    return order_view(order, meta.number, meta.position, created, updated, sent)


def order_view(
    order: Order, number: int | None, position: int, created: str, updated: str, sent: str | None
) -> JSON:
    """``render_order`` of ``order`` with its meta's number and position, and its times
    already in the view's text (``iso``): a rebuild formats each time of an order once."""
    return {
        "id": order.order_id,
        "number": number,
        "business_day": order.business_day,
        "order_type": order.order_type._value_,
        "table_number": order.table_number,
        "guest_count": order.guest_count,
        "notes": order.notes,
        "status": order.status._value_,
        "cancel_reason": order.cancel_reason,
        "version": order.version,
        "position": position,
        "total": order_total(order),
        "created_at": created,
        "updated_at": updated,
        "sent_at": sent,
        "items": [_render_item(item) for item in order.items],
    }


def _render_item(item: Item) -> JSON:
    return {
        "id": item.item_id,
        "menu_item_id": item.menu_item_id,
        "name": item.name,
        "quantity": item.quantity,
        "unit_price": item.unit_price,
        "modifiers": list(item.modifiers),
        "notes": item.notes,
        "station": item.station,
        "status": item.status._value_,
        "void_reason": item.void_reason,
    }


def kitchen_items(order: Order) -> list[Item]:
    """The items a ticket lists, in entry order."""
    return [i for i in order.items if i.status in KITCHEN_ITEM_STATUSES]


def ticket_item(item: Item) -> JSON:
    """A ticket line: ``{id, name, quantity, modifiers, notes, station, status}``."""
    return {
        "id": item.item_id,
        "name": item.name,
        "quantity": item.quantity,
        "modifiers": list(item.modifiers),
        "notes": item.notes,
        "station": item.station,
        "status": item.status._value_,
    }


def stations_of(items: list[Item] | tuple[Item, ...]) -> frozenset[str]:
    return frozenset(i.station for i in items if i.station is not None)
