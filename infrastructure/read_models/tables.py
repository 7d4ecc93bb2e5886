"""The read-model tables: SQLModel classes (the schema) and their Core ``Table`` objects.

Alembic revision ``0002_read_models`` creates exactly these tables; production code
never calls ``create_all``. Hot paths use the Core tables (``ORDER_VIEWS`` …) with
plain insert/upsert/delete statements, never ORM unit-of-work objects.

Timestamps are stored as UTC (SQLite keeps them naive; ``as_utc`` restores the zone).
JSON columns hold orjson-encoded text so that every dialect stores the same bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from sqlalchemy import DateTime, Index, Table, Text
from sqlmodel import Field, SQLModel

_TZ_DATETIME = DateTime(timezone=True)


class OrderViewRow(SQLModel, table=True):
    """One row per live order: the list filters as columns, the full view as JSON."""

    __tablename__ = "order_views"
    __table_args__ = (
        Index("ix_order_views_status_created", "status", "created_position"),
        Index("ix_order_views_type_created", "order_type", "created_position"),
        Index("ix_order_views_table_created", "table_number", "created_position"),
        Index("ix_order_views_created_at", "created_at"),
        Index("ix_order_views_day_number", "business_day", "number"),
        Index("ux_order_views_created_position", "created_position", unique=True),
    )

    id: str = Field(primary_key=True)
    number: int | None = None
    business_day: str
    status: str
    order_type: str
    table_number: int | None = None
    version: int
    position: int
    """Global position of the order's latest event."""
    created_position: int
    """Global position of ``OrderPlaced``: immutable, so it orders the list and its cursor."""
    created_at: datetime = Field(sa_type=_TZ_DATETIME)
    updated_at: datetime = Field(sa_type=_TZ_DATETIME)
    sent_at: datetime | None = Field(default=None, sa_type=_TZ_DATETIME)
    view: str = Field(sa_type=Text)


class KitchenTicketRow(SQLModel, table=True):
    """An order on the kitchen board (status sent, preparing or ready)."""

    __tablename__ = "kitchen_tickets"
    __table_args__ = (Index("ix_kitchen_tickets_sent_position", "sent_position"),)

    order_id: str = Field(primary_key=True)
    number: int | None = None
    order_type: str
    table_number: int | None = None
    status: str
    notes: str | None = None
    sent_at: datetime = Field(sa_type=_TZ_DATETIME)
    sent_position: int
    """Position of the event that first sent the order: the board is oldest first by it."""
    version: int
    position: int


class KitchenTicketItemRow(SQLModel, table=True):
    """A sent item of a ticket (sent, ready or voided), in entry order (``seq``)."""

    __tablename__ = "kitchen_ticket_items"
    __table_args__ = (
        Index("ix_kitchen_ticket_items_station", "station", "status"),
        Index("ix_kitchen_ticket_items_order_seq", "order_id", "seq"),
    )

    order_id: str = Field(primary_key=True)
    item_id: str = Field(primary_key=True)
    seq: int
    name: str
    quantity: int
    modifiers: str = Field(sa_type=Text)
    notes: str | None = None
    station: str | None = None
    status: str


class OrderNumberCounterRow(SQLModel, table=True):
    """The last ticket number given out per business day, so numbering survives restarts."""

    __tablename__ = "order_number_counters"

    business_day: str = Field(primary_key=True)
    last_number: int


class OrderNumberRow(SQLModel, table=True):
    """Every order's ticket number, kept after a discard (replays of old events need it)."""

    __tablename__ = "order_numbers"
    __table_args__ = (Index("ux_order_numbers_day_number", "business_day", "number", unique=True),)

    order_id: str = Field(primary_key=True)
    business_day: str
    number: int


class ProjectionCheckpointRow(SQLModel, table=True):
    """How far each projection got (global position) and its last failure, if any."""

    __tablename__ = "projection_checkpoints"

    name: str = Field(primary_key=True)
    position: int
    updated_at: datetime = Field(sa_type=_TZ_DATETIME)
    last_error: str | None = Field(default=None, sa_type=Text)


def _table(model: type[SQLModel]) -> Table:
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


ORDER_VIEWS = _table(OrderViewRow)
KITCHEN_TICKETS = _table(KitchenTicketRow)
KITCHEN_TICKET_ITEMS = _table(KitchenTicketItemRow)
ORDER_NUMBER_COUNTERS = _table(OrderNumberCounterRow)
ORDER_NUMBERS = _table(OrderNumberRow)
PROJECTION_CHECKPOINTS = _table(ProjectionCheckpointRow)

READ_MODEL_TABLES: tuple[Table, ...] = (
    ORDER_VIEWS,
    KITCHEN_TICKETS,
    KITCHEN_TICKET_ITEMS,
    ORDER_NUMBER_COUNTERS,
    ORDER_NUMBERS,
    PROJECTION_CHECKPOINTS,
)


def as_utc(value: datetime) -> datetime:
    """The instant in UTC; a naive value (SQLite gives those back) is taken as UTC."""
    zone = value.tzinfo
    if zone is UTC:  # the common case (events' times are UTC): nothing to convert
        return value
    if zone is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def iso(value: datetime) -> str:
    """The view's timestamp format: ISO 8601, UTC, always with microseconds."""
    return as_utc(value).isoformat(timespec="microseconds")
