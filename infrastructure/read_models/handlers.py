"""The write side of the read models: projection handlers, checkpoints and number counters.

A projection handler turns a batch of ``OrderChange`` values into rows with Core
statements, inside the projector's transaction. Handlers are told only changes
past their own checkpoint, and each one writes the *final* state of every order
the batch touched, so applying a change twice is harmless.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, Protocol

import orjson
from sqlalchemy import Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert

from infrastructure.read_models.tables import (
    KITCHEN_TICKET_ITEMS,
    KITCHEN_TICKETS,
    ORDER_NUMBER_COUNTERS,
    ORDER_NUMBERS,
    ORDER_VIEWS,
    PROJECTION_CHECKPOINTS,
    as_utc,
)
from infrastructure.read_models.views import OrderChange, TrackedOrder, kitchen_items

NumberedOrder = tuple[str, str, int]
"""``(order_id, business_day, number)``."""


class Projection(Protocol):
    """A read model fed by the projector; ``name`` keys its checkpoint row."""

    @property
    def name(self) -> str: ...

    async def apply(self, conn: AsyncConnection, changes: Sequence[OrderChange]) -> None:
        """Write the effect of ``changes`` (position order, all past the checkpoint)."""
        ...

    async def reset(self, conn: AsyncConnection) -> None:
        """Delete every row this projection owns (a rebuild replays from position 0)."""
        ...


class OrderViewsProjection:
    """``order_views``: order detail and order list (one row per live order)."""

    name = "order_views"

    async def apply(self, conn: AsyncConnection, changes: Sequence[OrderChange]) -> None:
        final = _last_per_order(changes)
        gone = [oid for oid, change in final.items() if change.view is None]
        rows = [_view_row(c) for c in final.values() if c.view is not None]
        if gone:
            await conn.execute(delete(ORDER_VIEWS).where(ORDER_VIEWS.c.id.in_(gone)))
        if rows:
            await conn.execute(upsert(conn, ORDER_VIEWS, ("id",)), rows)

    async def reset(self, conn: AsyncConnection) -> None:
        await conn.execute(delete(ORDER_VIEWS))


class KitchenProjection:
    """``kitchen_tickets`` + ``kitchen_ticket_items``: the board of sent, unfinished orders."""

    name = "kitchen"

    async def apply(self, conn: AsyncConnection, changes: Sequence[OrderChange]) -> None:
        final = _last_per_order(changes)
        touched = list(final)
        on_board = [c.after for c in final.values() if c.after is not None and c.after.in_kitchen]
        if touched:
            # Replace each touched ticket whole: simpler than diffing items, same cost per batch.
            await conn.execute(
                delete(KITCHEN_TICKET_ITEMS).where(KITCHEN_TICKET_ITEMS.c.order_id.in_(touched))
            )
            await conn.execute(
                delete(KITCHEN_TICKETS).where(KITCHEN_TICKETS.c.order_id.in_(touched))
            )
        if on_board:
            await conn.execute(KITCHEN_TICKETS.insert(), [_ticket_row(t) for t in on_board])
            items = [row for t in on_board for row in _ticket_item_rows(t)]
            if items:
                await conn.execute(KITCHEN_TICKET_ITEMS.insert(), items)

    async def reset(self, conn: AsyncConnection) -> None:
        await conn.execute(delete(KITCHEN_TICKET_ITEMS))
        await conn.execute(delete(KITCHEN_TICKETS))


def default_projections() -> tuple[Projection, ...]:
    return (OrderViewsProjection(), KitchenProjection())


def _last_per_order(changes: Sequence[OrderChange]) -> dict[str, OrderChange]:
    return {change.order_id: change for change in changes}


def _view_row(change: OrderChange) -> dict[str, Any]:
    assert change.after is not None and change.view is not None
    order, meta = change.after.order, change.after.meta
    return {
        "id": order.order_id,
        "number": meta.number,
        "business_day": order.business_day,
        "status": order.status.value,
        "order_type": order.order_type.value,
        "table_number": order.table_number,
        "version": order.version,
        "position": meta.position,
        "created_position": meta.created_position,
        "created_at": as_utc(meta.created_at),
        "updated_at": as_utc(meta.updated_at),
        "sent_at": as_utc(meta.sent_at) if meta.sent_at is not None else None,
        "view": dumps(change.view),
    }


def _ticket_row(tracked: TrackedOrder) -> dict[str, Any]:
    order, meta = tracked.order, tracked.meta
    assert meta.sent_at is not None
    return {
        "order_id": order.order_id,
        "number": meta.number,
        "order_type": order.order_type.value,
        "table_number": order.table_number,
        "status": order.status.value,
        "notes": order.notes,
        "sent_at": as_utc(meta.sent_at),
        "sent_position": meta.sent_position,
        "version": order.version,
        "position": meta.position,
    }


def _ticket_item_rows(tracked: TrackedOrder) -> Iterable[dict[str, Any]]:
    for seq, item in enumerate(kitchen_items(tracked.order)):
        yield {
            "order_id": tracked.order.order_id,
            "item_id": item.item_id,
            "seq": seq,
            "name": item.name,
            "quantity": item.quantity,
            "modifiers": dumps(list(item.modifiers)),
            "notes": item.notes,
            "station": item.station,
            "status": item.status.value,
        }


# --- checkpoints and counters ------------------------------------------------------------

GENERATION: Final = "#generation"
"""Checkpoint row whose ``position`` counts read-model swaps: the replay tooling bumps it in
the transaction that swaps rebuilt tables in, and a projector that sees it change reloads."""


async def load_generation(conn: AsyncConnection) -> int:
    generation = await conn.scalar(
        select(PROJECTION_CHECKPOINTS.c.position).where(PROJECTION_CHECKPOINTS.c.name == GENERATION)
    )
    return int(generation or 0)


async def load_checkpoints(conn: AsyncConnection) -> dict[str, int]:
    rows = await conn.execute(
        select(PROJECTION_CHECKPOINTS.c.name, PROJECTION_CHECKPOINTS.c.position)
    )
    return {name: position for name, position in rows}


async def save_checkpoints(
    conn: AsyncConnection, positions: Mapping[str, int], now: datetime
) -> None:
    """Set each named checkpoint to its position and clear its last error."""
    rows = [
        {"name": n, "position": p, "updated_at": now, "last_error": None}
        for n, p in positions.items()
    ]
    if rows:
        await conn.execute(upsert(conn, PROJECTION_CHECKPOINTS, ("name",)), rows)


async def record_error(
    conn: AsyncConnection, names: Iterable[str], error: str, now: datetime
) -> None:
    """Note ``error`` on the checkpoint rows of ``names`` without moving their position."""
    rows = [{"name": n, "position": 0, "updated_at": now, "last_error": error} for n in names]
    if rows:
        stmt = upsert(conn, PROJECTION_CHECKPOINTS, ("name",), only=("updated_at", "last_error"))
        await conn.execute(stmt, rows)


async def reset_checkpoints(conn: AsyncConnection, names: Iterable[str]) -> None:
    await conn.execute(
        delete(PROJECTION_CHECKPOINTS).where(PROJECTION_CHECKPOINTS.c.name.in_(list(names)))
    )


async def load_counters(conn: AsyncConnection) -> dict[str, int]:
    rows = await conn.execute(
        select(ORDER_NUMBER_COUNTERS.c.business_day, ORDER_NUMBER_COUNTERS.c.last_number)
    )
    return {day: last for day, last in rows}


async def save_counters(conn: AsyncConnection, counters: Mapping[str, int]) -> None:
    rows = [{"business_day": d, "last_number": n} for d, n in counters.items()]
    if rows:
        await conn.execute(upsert(conn, ORDER_NUMBER_COUNTERS, ("business_day",)), rows)


async def save_numbers(conn: AsyncConnection, numbered: Sequence[NumberedOrder]) -> None:
    """Remember each order's ticket number (discarded orders' too)."""
    rows = [{"order_id": o, "business_day": d, "number": n} for o, d, n in numbered]
    if rows:
        await conn.execute(upsert(conn, ORDER_NUMBERS, ("order_id",)), rows)


async def reset_numbering(conn: AsyncConnection) -> None:
    await conn.execute(delete(ORDER_NUMBERS))
    await conn.execute(delete(ORDER_NUMBER_COUNTERS))


async def stored_number(conn: AsyncConnection, order_id: str) -> int | None:
    """The ticket number the order was given (None if it was not numbered yet)."""
    number: int | None = await conn.scalar(
        select(ORDER_NUMBERS.c.number).where(ORDER_NUMBERS.c.order_id == order_id)
    )
    return number


# --- helpers --------------------------------------------------------------------------------


def upsert(
    conn: AsyncConnection,
    table: Table,
    keys: tuple[str, ...],
    *,
    only: tuple[str, ...] | None = None,
) -> Insert:
    """``INSERT … ON CONFLICT (keys) DO UPDATE`` for SQLite and PostgreSQL (executemany-ready).

    ``only`` limits the columns a conflict updates (all non-key columns by default).
    """
    names = only or tuple(c.name for c in table.columns if c.name not in keys)
    if conn.dialect.name == "postgresql":
        pg = postgresql.insert(table)
        return pg.on_conflict_do_update(
            index_elements=list(keys), set_={n: pg.excluded[n] for n in names}
        )
    lite = sqlite.insert(table)
    return lite.on_conflict_do_update(
        index_elements=list(keys), set_={n: lite.excluded[n] for n in names}
    )


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()
