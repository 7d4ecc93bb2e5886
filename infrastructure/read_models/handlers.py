"""The write side of the read models: projection handlers, checkpoints and number counters.

A projection handler turns a batch of ``OrderChange`` values into rows with Core
statements, inside the projector's transaction. Handlers are told only changes
past their own checkpoint, and each one writes the *final* state of every order
the batch touched, so applying a change twice is harmless.

On the projector's one-hop writer (SQLite, the server's path) the connection says
``plain_sqlite``: the handlers and checkpoint writers then hand it ``PlainSql`` statements
with tuples already in stored form (``view_values``, ``ticket_values`` …, the same rows
as ``view_row``, ``ticket_row`` … through SQLAlchemy's bind processors), which run on
``sqlite3`` as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, Protocol, cast

import orjson
from sqlalchemy import Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert

from domain.model import Item, Order
from domain.ports import JSON
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


class PlainSql:
    """SQL text for SQLite's ``executemany``, with one tuple of stored values per row.

    A connection that says ``plain_sqlite = True`` (the projector's one-hop recorder, whose
    statements go straight to a ``sqlite3`` connection) is given these instead of Core
    statements: rows built as tuples in the table's column order, timestamps already in
    SQLAlchemy's SQLite storage format (``stored_time``), so neither a dict per row nor a
    bind processor per value is needed. The rows are those the Core statements write.
    """

    __slots__ = ("sql",)

    def __init__(self, sql: str) -> None:
        self.sql = sql

    def __repr__(self) -> str:
        return f"PlainSql({self.sql!r})"


def plain_sqlite(conn: object) -> bool:
    """Whether ``conn`` takes ``PlainSql`` statements (see ``PlainSql``)."""
    return getattr(conn, "plain_sqlite", False) is True


async def _execute_plain(conn: AsyncConnection, statement: PlainSql, rows: list[Any]) -> None:
    """Hand ``statement`` and its rows to a connection that takes them (``plain_sqlite``)."""
    await cast(Any, conn).execute(statement, rows)


def stored_time(value: datetime) -> str:
    """``value`` as the read-model tables store it on SQLite: its UTC time as
    ``YYYY-MM-DD HH:MM:SS.ffffff`` (what SQLAlchemy's bind processor writes after ``as_utc``)."""
    return as_utc(value).isoformat(" ", "microseconds")[:26]


def stored_iso(text: str) -> str:
    """``stored_time`` of the instant ``iso()`` wrote as ``text`` (the view's times:
    ``YYYY-MM-DDTHH:MM:SS.ffffff+00:00``)."""
    return f"{text[:10]} {text[11:26]}"


def _plain_upsert(table: Table, keys: tuple[str, ...]) -> PlainSql:
    """``upsert(…)``'s SQLite statement with positional parameters in column order."""
    return PlainSql("".join(upsert_parts(table, keys)))


def upsert_parts(table: Table, keys: tuple[str, ...], prefix: str = "") -> tuple[str, str, str]:
    """The SQL of ``_plain_upsert`` on the table named ``prefix`` + its name (a rebuild's
    shadow tables) as ``(head, row, tail)``: ``row`` is one row's placeholders, so ``head``
    + rows joined by ", " + ``tail`` upserts several rows, in their order."""
    names = [c.name for c in table.columns]
    updated = [n for n in names if n not in keys]
    return (
        f"INSERT INTO {prefix}{table.name} ({', '.join(names)}) VALUES ",
        f"({', '.join('?' * len(names))})",
        f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET "
        + ", ".join(f"{n} = excluded.{n}" for n in updated),
    )


def _plain_delete(table: Table, key: str) -> PlainSql:
    return PlainSql(f"DELETE FROM {table.name} WHERE {key} = ?")


_VIEWS_UPSERT: Final = _plain_upsert(ORDER_VIEWS, ("id",))
_VIEWS_DELETE: Final = _plain_delete(ORDER_VIEWS, "id")
_TICKETS_UPSERT: Final = _plain_upsert(KITCHEN_TICKETS, ("order_id",))
_TICKETS_DELETE: Final = _plain_delete(KITCHEN_TICKETS, "order_id")
_ITEMS_UPSERT: Final = _plain_upsert(KITCHEN_TICKET_ITEMS, ("order_id", "item_id"))
_ITEMS_DELETE: Final = _plain_delete(KITCHEN_TICKET_ITEMS, "order_id")
_CHECKPOINTS_UPSERT: Final = _plain_upsert(PROJECTION_CHECKPOINTS, ("name",))
_COUNTERS_UPSERT: Final = _plain_upsert(ORDER_NUMBER_COUNTERS, ("business_day",))
_NUMBERS_UPSERT: Final = _plain_upsert(ORDER_NUMBERS, ("order_id",))


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
        if plain_sqlite(conn):
            values = [
                view_values(c.after, c.view, c.view_text)
                for c in final.values()
                if c.after is not None and c.view is not None and c.view_text is not None
            ]
            if gone:
                await _execute_plain(conn, _VIEWS_DELETE, [(oid,) for oid in gone])
            if values:
                await _execute_plain(conn, _VIEWS_UPSERT, values)
            return
        rows = [
            view_row(c.after, c.view_text)
            for c in final.values()
            if c.after is not None and c.view_text is not None
        ]
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
        # What the tables hold for an order is its state before its first change here
        # (checkpoint and rows commit together): an order placed in this batch has no rows
        # (no delete), and a ticket whose item lines did not change keeps its item rows.
        first: dict[str, OrderChange] = {}
        for change in changes:
            first.setdefault(change.order_id, change)
        final = _last_per_order(changes)
        plain = plain_sqlite(conn)
        off_board: list[str] = []
        rewrite_items: list[str] = []
        tickets: list[Any] = []
        items: list[Any] = []
        for order_id, change in final.items():
            before, after = first[order_id].before, change.after
            if after is None or not after.in_kitchen:
                if before is not None:
                    off_board.append(order_id)
                continue
            if plain:
                view = change.view
                assert view is not None  # after is not None
                tickets.append(ticket_values(after, view))
            else:
                tickets.append(ticket_row(after))
            lines = kitchen_items(after.order)
            if before is not None:
                if before.in_kitchen and kitchen_items(before.order) == lines:
                    continue
                rewrite_items.append(order_id)
            if plain:
                items.extend(ticket_item_values(order_id, lines))
            else:
                items.extend(ticket_item_rows(order_id, lines))
        gone_items = off_board + rewrite_items
        if plain:
            if gone_items:
                await _execute_plain(conn, _ITEMS_DELETE, [(oid,) for oid in gone_items])
            if off_board:
                await _execute_plain(conn, _TICKETS_DELETE, [(oid,) for oid in off_board])
            if tickets:
                await _execute_plain(conn, _TICKETS_UPSERT, tickets)
            if items:
                await _execute_plain(conn, _ITEMS_UPSERT, items)
            return
        if gone_items:
            await conn.execute(
                delete(KITCHEN_TICKET_ITEMS).where(KITCHEN_TICKET_ITEMS.c.order_id.in_(gone_items))
            )
        if off_board:
            await conn.execute(
                delete(KITCHEN_TICKETS).where(KITCHEN_TICKETS.c.order_id.in_(off_board))
            )
        if tickets:
            await conn.execute(upsert(conn, KITCHEN_TICKETS, ("order_id",)), tickets)
        if items:
            await conn.execute(upsert(conn, KITCHEN_TICKET_ITEMS, ("order_id", "item_id")), items)

    async def reset(self, conn: AsyncConnection) -> None:
        await conn.execute(delete(KITCHEN_TICKET_ITEMS))
        await conn.execute(delete(KITCHEN_TICKETS))


def default_projections() -> tuple[Projection, ...]:
    return (OrderViewsProjection(), KitchenProjection())


def _last_per_order(changes: Sequence[OrderChange]) -> dict[str, OrderChange]:
    return {change.order_id: change for change in changes}


def view_row(tracked: TrackedOrder, text: str) -> dict[str, Any]:
    """The ``order_views`` row of ``tracked``, whose rendered view's JSON text is ``text``."""
    order, meta = tracked.order, tracked.meta
    return {
        "id": order.order_id,
        "number": meta.number,
        "business_day": order.business_day,
        "status": order.status._value_,
        "order_type": order.order_type._value_,
        "table_number": order.table_number,
        "version": order.version,
        "position": meta.position,
        "created_position": meta.created_position,
        "created_at": as_utc(meta.created_at),
        "updated_at": as_utc(meta.updated_at),
        "sent_at": as_utc(meta.sent_at) if meta.sent_at is not None else None,
        "view": text,
    }


def ticket_row(tracked: TrackedOrder) -> dict[str, Any]:
    """The ``kitchen_tickets`` row of an order on the board."""
    order, meta = tracked.order, tracked.meta
    assert meta.sent_at is not None
    return {
        "order_id": order.order_id,
        "number": meta.number,
        "order_type": order.order_type._value_,
        "table_number": order.table_number,
        "status": order.status._value_,
        "notes": order.notes,
        "sent_at": as_utc(meta.sent_at),
        "sent_position": meta.sent_position,
        "version": order.version,
        "position": meta.position,
    }


def ticket_item_rows(order_id: str, lines: list[Item]) -> Iterable[dict[str, Any]]:
    """The ``kitchen_ticket_items`` rows of a ticket listing ``lines`` (``kitchen_items``)."""
    for seq, item in enumerate(lines):
        yield {
            "order_id": order_id,
            "item_id": item.item_id,
            "seq": seq,
            "name": item.name,
            "quantity": item.quantity,
            "modifiers": dumps(list(item.modifiers)),
            "notes": item.notes,
            "station": item.station,
            "status": item.status._value_,
        }


def view_values(tracked: TrackedOrder, view: JSON, text: str) -> tuple[Any, ...]:
    """``view_row`` as stored on SQLite, in ``order_views`` column order (``PlainSql``).

    ``view`` is ``render_order(tracked)``: its times are taken from it (``stored_iso``);
    ``text`` is its JSON text."""
    return view_row_values(view, tracked.meta.created_position, text)


def view_row_values(view: JSON, created_position: int, text: str | None = None) -> tuple[Any, ...]:
    """``view_values`` of the order whose view is ``view`` (``text``: its JSON text, when
    already encoded) and which was placed at ``created_position``."""
    created, updated, sent = view["created_at"], view["updated_at"], view["sent_at"]
    stored_created = stored_iso(created)
    stored_updated = stored_created if updated == created else stored_iso(updated)
    stored_sent = None if sent is None else stored_iso(sent)
    return (
        view["id"],
        view["number"],
        view["business_day"],
        view["status"],
        view["order_type"],
        view["table_number"],
        view["version"],
        view["position"],
        created_position,
        stored_created,
        stored_updated,
        stored_sent,
        dumps(view) if text is None else text,
    )


def ticket_values(tracked: TrackedOrder, view: JSON) -> tuple[Any, ...]:
    """``ticket_row`` as stored on SQLite, in ``kitchen_tickets`` column order; ``view`` is
    ``render_order(tracked)`` (its ``sent_at`` text is the ticket's)."""
    order, meta = tracked.order, tracked.meta
    assert meta.sent_at is not None and view["sent_at"] is not None
    return ticket_row_values(order, meta.number, view["sent_at"], meta.sent_position, meta.position)


def ticket_row_values(
    order: Order, number: int | None, sent: str, sent_position: int | None, position: int
) -> tuple[Any, ...]:
    """``ticket_values`` of ``order`` with its meta's number and positions; ``sent`` is the
    time it was first sent as the view shows it (``iso``)."""
    return (
        order.order_id,
        number,
        order.order_type._value_,
        order.table_number,
        order.status._value_,
        order.notes,
        stored_iso(sent),
        sent_position,
        order.version,
        position,
    )


def ticket_item_values(order_id: str, lines: list[Item]) -> list[tuple[Any, ...]]:
    """``ticket_item_rows`` as stored on SQLite, in ``kitchen_ticket_items`` column order."""
    return [
        (
            order_id,
            item.item_id,
            seq,
            item.name,
            item.quantity,
            dumps(list(item.modifiers)) if item.modifiers else "[]",
            item.notes,
            item.station,
            item.status._value_,
        )
        for seq, item in enumerate(lines)
    ]


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
    if plain_sqlite(conn):
        at = stored_time(now)
        values = [(n, p, at, None) for n, p in positions.items()]
        if values:
            await _execute_plain(conn, _CHECKPOINTS_UPSERT, values)
        return
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
    if plain_sqlite(conn):
        if counters:
            await _execute_plain(conn, _COUNTERS_UPSERT, list(counters.items()))
        return
    rows = [{"business_day": d, "last_number": n} for d, n in counters.items()]
    if rows:
        await conn.execute(upsert(conn, ORDER_NUMBER_COUNTERS, ("business_day",)), rows)


async def save_numbers(conn: AsyncConnection, numbered: Sequence[NumberedOrder]) -> None:
    """Remember each order's ticket number (discarded orders' too)."""
    if plain_sqlite(conn):
        if numbered:
            await _execute_plain(conn, _NUMBERS_UPSERT, list(numbered))
        return
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
    key = (conn.dialect.name, table, keys, only)
    statement = _UPSERTS.get(key)
    if statement is None:
        statement = _UPSERTS[key] = _build_upsert(conn.dialect.name, table, keys, only)
    return statement


_UPSERTS: dict[tuple[str, Table, tuple[str, ...], tuple[str, ...] | None], Insert] = {}
"""Built once per dialect and shape: the same object every batch, so the projector's
one-hop writer can reuse its compiled form (``Projector._write_sync``)."""


def _build_upsert(
    dialect: str, table: Table, keys: tuple[str, ...], only: tuple[str, ...] | None
) -> Insert:
    names = only or tuple(c.name for c in table.columns if c.name not in keys)
    if dialect == "postgresql":
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
