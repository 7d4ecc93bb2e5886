"""The read side of the read models: what the REST and Socket.IO layers ask for.

Every query runs in one read transaction (``ReadModels.snapshot()``), so a
multi-statement read is consistent and ``ReadSnapshot.position`` says exactly
which global position it reflects (what a Socket.IO join without ``since`` sends).

The order list is newest first: ordered by the position of the order's
``OrderPlaced`` event (immutable, unique), so a cursor page never skips or
repeats an order however the orders change in between.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Final

import orjson
from sqlalchemy import ColumnElement, String, exists, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.ports import JSON
from infrastructure.read_models.handlers import (
    KitchenProjection,
    OrderViewsProjection,
    stored_number,
)
from infrastructure.read_models.tables import (
    KITCHEN_TICKET_ITEMS,
    KITCHEN_TICKETS,
    ORDER_VIEWS,
    PROJECTION_CHECKPOINTS,
    as_utc,
    iso,
)
from infrastructure.read_models.views import LIVE_ITEM_STATUSES

MAX_LIST_LIMIT: Final = 500
_LIVE = [s.value for s in LIVE_ITEM_STATUSES]
_SNAPSHOT_PROJECTIONS: Final = (OrderViewsProjection.name, KitchenProjection.name)


class InvalidCursor(ValueError):
    """A list cursor that this service did not hand out (the REST layer answers 422)."""


class ReadModels:
    """Queries over the read-model tables; each call is one short read transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[ReadSnapshot]:
        """Several reads from one consistent state, with the position it reflects."""
        async with self._engine.connect() as conn:
            yield await ReadSnapshot.open(conn)

    async def get_order(self, order_id: str) -> JSON | None:
        async with self.snapshot() as snap:
            return await snap.get_order(order_id)

    async def list_orders(
        self,
        *,
        status: Sequence[str] | None = None,
        order_type: str | None = None,
        table_number: int | None = None,
        since: datetime | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> tuple[list[JSON], str | None]:
        async with self.snapshot() as snap:
            return await snap.list_orders(
                status=status,
                order_type=order_type,
                table_number=table_number,
                since=since,
                cursor=cursor,
                limit=limit,
            )

    async def kitchen_tickets(self, station: str | None = None) -> list[JSON]:
        async with self.snapshot() as snap:
            return await snap.kitchen_tickets(station)

    async def order_number(self, order_id: str) -> int | None:
        async with self.snapshot() as snap:
            return await snap.order_number(order_id)

    async def checkpoints(self) -> dict[str, int]:
        """Every projection's checkpoint position, by projection name."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(PROJECTION_CHECKPOINTS.c.name, PROJECTION_CHECKPOINTS.c.position)
            )
            return dict(rows.all())

    async def errors(self) -> dict[str, str]:
        """The last error of every projection that is stuck on one, by projection name."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(PROJECTION_CHECKPOINTS.c.name, PROJECTION_CHECKPOINTS.c.last_error).where(
                    PROJECTION_CHECKPOINTS.c.last_error.is_not(None)
                )
            )
            return {name: error for name, error in rows if error is not None}


class ReadSnapshot:
    """Reads inside one transaction; ``position`` is where the order and kitchen models stand."""

    def __init__(self, conn: AsyncConnection, position: int) -> None:
        self._conn = conn
        self.position = position

    @classmethod
    async def open(cls, conn: AsyncConnection) -> ReadSnapshot:
        position = await conn.scalar(
            select(func.min(PROJECTION_CHECKPOINTS.c.position)).where(
                PROJECTION_CHECKPOINTS.c.name.in_(_SNAPSHOT_PROJECTIONS)
            )
        )
        return cls(conn, int(position or 0))

    async def get_order(self, order_id: str) -> JSON | None:
        """The order view, or None when there is no such order (or it was discarded)."""
        raw = await self._conn.scalar(
            select(ORDER_VIEWS.c.view).where(ORDER_VIEWS.c.id == order_id)
        )
        return _loads(raw) if raw is not None else None

    async def order_number(self, order_id: str) -> int | None:
        """The order's ticket number, also once it is discarded (None: not numbered yet)."""
        return await stored_number(self._conn, order_id)

    async def list_orders(
        self,
        *,
        status: Sequence[str] | None = None,
        order_type: str | None = None,
        table_number: int | None = None,
        since: datetime | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> tuple[list[JSON], str | None]:
        """A page of order views, newest first, and the cursor of the next page (or None).

        Filters combine with AND: ``status`` is any of the listed statuses (None or empty:
        all), ``since`` keeps orders created at or after that instant (naive = UTC).
        """
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIST_LIMIT}: {limit}")
        t = ORDER_VIEWS.c
        where: list[ColumnElement[bool]] = []
        if status:
            where.append(t.status.in_(list(status)))
        if order_type is not None:
            where.append(t.order_type == order_type)
        if table_number is not None:
            where.append(t.table_number == table_number)
        if since is not None:
            where.append(t.created_at >= as_utc(since))
        if cursor is not None:
            where.append(t.created_position < decode_cursor(cursor))
        stmt = (
            select(t.view, t.created_position)
            .where(*where)
            .order_by(t.created_position.desc())
            .limit(limit + 1)
        )
        rows = (await self._conn.execute(stmt)).all()
        page = rows[:limit]
        more = len(rows) > limit
        return [_loads(view) for view, _ in page], encode_cursor(page[-1][1]) if more else None

    async def kitchen_tickets(self, station: str | None = None) -> list[JSON]:
        """The kitchen board, oldest first (by when each order was first sent).

        With ``station``: only that station's items, and only orders that still have a
        live (sent or ready) item there.
        """
        k, i = KITCHEN_TICKETS.c, KITCHEN_TICKET_ITEMS.c
        # Two queries whatever the board's size, no IN list of ids, plain tuples (no
        # mappings), and sent_at read as the stored text where the dialect keeps text
        # (SQLite): ~2,000 tickets took ~78 ms through ORM-style rows, IN (...) and
        # datetime round trips.
        tickets = select(
            k.order_id,
            k.number,
            k.order_type,
            k.table_number,
            k.status,
            k.notes,
            type_coerce(k.sent_at, String),
            k.version,
            k.position,
        ).order_by(k.sent_position)
        items = select(
            i.order_id, i.item_id, i.name, i.quantity, i.modifiers, i.notes, i.station, i.status
        ).order_by(i.order_id, i.seq)
        if station is not None:
            live_here = exists().where(
                i.order_id == k.order_id, i.station == station, i.status.in_(_LIVE)
            )
            tickets = tickets.where(live_here)
            items = items.where(i.station == station)
        ticket_rows = (await self._conn.execute(tickets)).all()
        if not ticket_rows:
            return []
        by_order: dict[str, list[JSON]] = {row[0]: [] for row in ticket_rows}
        loads = orjson.loads
        for oid, item_id, name, quantity, modifiers, notes, item_station, status in (
            await self._conn.execute(items)
        ).all():
            lines = by_order.get(oid)
            if lines is not None:  # with a station: items of tickets not on that station's board
                lines.append(
                    {
                        "id": item_id,
                        "name": name,
                        "quantity": quantity,
                        "modifiers": loads(modifiers),
                        "notes": notes,
                        "station": item_station,
                        "status": status,
                    }
                )
        return [
            {
                "order_id": oid,
                "number": number,
                "order_type": order_type,
                "table_number": table_number,
                "status": status,
                "notes": notes,
                "sent_at": _stored_iso(sent_at),
                "version": version,
                "position": position,
                "items": by_order[oid],
            }
            for (
                oid,
                number,
                order_type,
                table_number,
                status,
                notes,
                sent_at,
                version,
                position,
            ) in ticket_rows
        ]


def encode_cursor(created_position: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"p": created_position})).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        position = raw["p"]
    except (binascii.Error, orjson.JSONDecodeError, TypeError, KeyError, ValueError) as exc:
        raise InvalidCursor(f"not a cursor from this list: {cursor!r}") from exc
    if not isinstance(position, int) or isinstance(position, bool) or not 0 < position < 2**63:
        # positions are SQLite INTEGERs: anything else was forged and would overflow the query
        raise InvalidCursor(f"not a cursor from this list: {cursor!r}")
    return position


def _stored_iso(value: Any) -> str:
    """``iso()`` of a stored timestamp: SQLite gives back its text ``YYYY-MM-DD
    HH:MM:SS.ffffff`` (UTC, always with microseconds), other dialects a datetime."""
    if isinstance(value, str):
        if len(value) == 26 and value[10] == " ":
            return f"{value[:10]}T{value[11:]}+00:00"
        return iso(datetime.fromisoformat(value))
    return iso(value)


def _loads(raw: str) -> Any:
    return orjson.loads(raw)
