"""A rebuild's fast path: the log folded in memory, each order's final rows written once a batch.

``BulkProjector`` replays a store file's events from position 0 into empty read-model
tables and leaves exactly the rows, ticket numbers, checkpoints and counters the live
``Projector`` leaves after the same replay. It does only what a replay from zero needs:

- rows come from a plain cursor (no ``RecordedEvent``, no datetime per event); an event's
  metadata is decoded only where its time is shown (an order's placement, first firing,
  and last event in a batch);
- each event is decoded by ``domain.codec.decoder``'s function for its type and schema
  version (``decode`` without the per-call lookups) and folded onto its order by
  ``domain.decider.evolve``; orders stay in memory while they can still change (no cache
  lookups, no per-event ``OrderChange``, no view per event);
- per batch, in one write transaction: each order the batch touched gets its final rows
  (its view rendered once, its ticket and lines), then the numbers, counters and
  checkpoints, as executemany of plain SQL with positional rows, the values SQLAlchemy's
  bind processors give; the transaction runs in a thread, started while the next batch
  is folded (``executemany`` takes the GIL back after every row: they overlap little).

Why the rows are the live projector's: its handlers write, per batch, the *final* state
of every order the batch touched (upserts and deletes keyed by order), so the tables after
a batch depend only on each order's state at its end; row, view and ticket shapes come
from the same functions (``handlers.view_row``, ``views.render_order`` …). Folding in
position order gives the state the live projector's cache or stream refold gives on a
store whose stream versions are dense (what ``store verify`` checks). Numbers are given
by the domain's ``OrderNumbering`` in position order, as live.

An order that reached a final status (or was discarded) is dropped from memory once
written; an event for it later (an old stream) refolds it from its stream, as the live
projector does after a cache miss.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import orjson
from sqlalchemy import Table
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.business_day import OrderNumbering
from domain.codec import Decoder, decode, decoder
from domain.decider import evolve
from domain.events import OrderPlaced
from domain.model import FINAL_STATUSES, Order
from infrastructure.projector import ORDER_NUMBERS, ProjectionFailed
from infrastructure.read_models.handlers import (
    KitchenProjection,
    OrderViewsProjection,
    ticket_item_rows,
    ticket_row,
    view_row,
)
from infrastructure.read_models.tables import (
    KITCHEN_TICKET_ITEMS,
    KITCHEN_TICKETS,
    ORDER_NUMBER_COUNTERS,
    ORDER_VIEWS,
    PROJECTION_CHECKPOINTS,
)
from infrastructure.read_models.tables import ORDER_NUMBERS as ORDER_NUMBERS_TABLE
from infrastructure.read_models.views import (
    OrderMeta,
    TrackedOrder,
    kitchen_items,
    occurred,
    render_order,
)
from infrastructure.replay import tuning
from infrastructure.replay.source import BUSY_TIMEOUT, EventLog

__all__ = ["BulkProjector"]

_COLUMNS: Final = (
    "position, stream_id, stream_version, type, schema_version, data, metadata, recorded_at"
)
_SCAN: Final = (
    f"SELECT {_COLUMNS} FROM events WHERE position > ? AND position <= ? ORDER BY position LIMIT ?"
)
_STREAM: Final = (
    f"SELECT {_COLUMNS} FROM events WHERE stream_id = ? AND stream_version < ? "
    "ORDER BY stream_version"
)
_Row = tuple[int, str, int, str, int, str, str, str]
"""``(position, stream_id, stream_version, type, schema_version, data, metadata,
recorded_at)`` as stored."""
_NO_LIMIT: Final = 2**62
_DIALECT: Final = sqlite.dialect()


class _Folded:
    """An order as folded so far, with what its rows need beyond ``Order``.

    ``metadata``/``recorded_at`` are the raw columns of its last event: its ``updated_at``
    is decoded from them only when the order is written."""

    __slots__ = (
        "created_at",
        "created_position",
        "metadata",
        "number",
        "order",
        "position",
        "recorded_at",
        "sent_at",
        "sent_position",
        "stored",
    )

    def __init__(self, order: Order, number: int | None, at: datetime, row: _Row) -> None:
        position = row[0]
        self.order = order
        self.number = number
        self.created_at = at
        self.created_position = position
        self.position = position
        self.metadata = row[6]
        self.recorded_at = row[7]
        fired = order.fired_ever
        self.sent_at: datetime | None = at if fired else None
        self.sent_position: int | None = position if fired else None
        self.stored = False
        """Whether rows of it may be in the tables (written by an earlier batch)."""

    def tracked(self) -> TrackedOrder:
        updated_at = _at(self.metadata, self.recorded_at)
        meta = OrderMeta(
            self.number,
            self.created_at,
            self.created_position,
            updated_at,
            self.position,
            self.sent_at,
            self.sent_position,
        )
        return TrackedOrder(self.order, meta)


def _at(metadata: str, recorded_at: str) -> datetime:
    """``views.occurred_at`` of a stored row: its ``occurred_at`` metadata, else recorded_at."""
    return occurred(orjson.loads(metadata)) or datetime.fromisoformat(recorded_at)


class _Upsert:
    """``INSERT … ON CONFLICT (keys) DO UPDATE`` of every column (as ``handlers.upsert``)
    with positional parameters; ``rows`` turns the row builders' dicts into tuples of the
    values SQLAlchemy would bind (its bind processors applied; SQLite's ``DATETIME`` one
    by ``_datetime_text``: the same text, faster)."""

    def __init__(self, table: Table, keys: tuple[str, ...], prefix: str, dialect: Dialect) -> None:
        names = [c.name for c in table.columns]
        updates = ", ".join(f"{n} = excluded.{n}" for n in names if n not in keys)
        self.sql = (
            f"INSERT INTO {prefix}{table.name} ({', '.join(names)}) "
            f"VALUES ({', '.join('?' for _ in names)}) "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
        )
        namespace: dict[str, Any] = {}
        values = []
        for column in table.columns:
            impl = column.type.dialect_impl(dialect)
            process: Callable[[Any], Any] | None = impl.bind_processor(dialect)
            value = f"row[{column.name!r}]"
            if process is not None:
                if isinstance(impl, sqlite.DATETIME) and impl._storage_format == _DATETIME_FORMAT:
                    process = _datetime_text(process)
                namespace[f"p_{column.name}"] = process
                value = f"p_{column.name}({value})"
            values.append(value)
        # the source holds only the table's column names
        exec(f"def values(row):\n    return ({', '.join(values)},)", namespace)
        self._values: Callable[[dict[str, Any]], tuple[Any, ...]] = namespace["values"]

    def rows(self, rows: Iterable[dict[str, Any]]) -> list[tuple[Any, ...]]:
        values = self._values
        return [values(row) for row in rows]


_DATETIME_FORMAT: Final = (
    "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"
)
"""SQLAlchemy's default storage format of SQLite ``DATETIME`` (the read models' columns)."""


def _datetime_text(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """SQLAlchemy's SQLite ``DATETIME`` bind processor ``process`` (``_DATETIME_FORMAT``:
    the time's fields as they are, any zone dropped), by ``isoformat`` for a datetime."""

    def text(value: Any) -> Any:
        if type(value) is datetime:
            return value.isoformat(" ", "microseconds")[:26]
        return process(value)  # None, a date, or its refusal

    return text


class _Statements:
    """The SQL of a batch, on the tables named ``prefix`` + the live name."""

    def __init__(self, prefix: str) -> None:
        dialect = _DIALECT
        self.views = _Upsert(ORDER_VIEWS, ("id",), prefix, dialect)
        self.tickets = _Upsert(KITCHEN_TICKETS, ("order_id",), prefix, dialect)
        self.items = _Upsert(KITCHEN_TICKET_ITEMS, ("order_id", "item_id"), prefix, dialect)
        self.numbers = _Upsert(ORDER_NUMBERS_TABLE, ("order_id",), prefix, dialect)
        self.counters = _Upsert(ORDER_NUMBER_COUNTERS, ("business_day",), prefix, dialect)
        self.checkpoints = _Upsert(PROJECTION_CHECKPOINTS, ("name",), prefix, dialect)
        self.delete_view = f"DELETE FROM {prefix}{ORDER_VIEWS.name} WHERE id = ?"
        self.delete_ticket = f"DELETE FROM {prefix}{KITCHEN_TICKETS.name} WHERE order_id = ?"
        self.delete_items = f"DELETE FROM {prefix}{KITCHEN_TICKET_ITEMS.name} WHERE order_id = ?"


_Batch = list[tuple[str, list[Any]]]
"""A batch's statements: SQL and its rows (executemany), in order."""


class BulkProjector:
    """Replays the events of ``log`` into the read models of ``projections`` (names in
    ``rebuild.TABLES``) and the order numbering, from position 0, into the empty tables
    ``prefix`` + live name of the SQLite file ``target``.

    The surface the replay tooling used of ``Projector``: ``position``, ``until`` (a cap
    that may be raised between calls), ``catch_up`` and ``project_on``. ``catch_up``
    writes each batch on a connection of its own, in a thread, while it folds the next
    batch (SQLite releases the GIL while it writes).
    """

    def __init__(
        self,
        log: EventLog,
        target: Path,
        projections: Sequence[str],
        *,
        batch_size: int,
        prefix: str = "",
        until: int | None = None,
        on_read: Callable[[int], None] | None = None,
        pragmas: Sequence[str] = (),
    ) -> None:
        """``pragmas``: run on the writing connection when it opens (besides a big cache)."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        known = {OrderViewsProjection.name, KitchenProjection.name}
        if not set(projections) <= known:
            raise ValueError(f"unknown projections {sorted(set(projections) - known)}")
        self.until = until
        self._log = log
        self._target = target
        self._pragmas = (*tuning.WRITER_PRAGMAS, *pragmas)
        self._names = (*projections, ORDER_NUMBERS)
        self._views = OrderViewsProjection.name in projections
        self._kitchen = KitchenProjection.name in projections
        self._batch_size = batch_size
        self._on_read = on_read
        self._sql = _Statements(prefix)
        self._position = 0
        self._writing_to = 0
        self._folded_to = 0
        self._orders: dict[str, _Folded] = {}
        self._numbers: dict[str, int] = {}
        """Every order's number, for a refold of an order dropped from ``_orders``."""
        self._numbering = OrderNumbering()
        self._decoders: dict[tuple[str, int], Decoder] = {}
        """``decode`` per (type, schema version) met so far."""

    @property
    def position(self) -> int:
        """The position the tables hold (the last batch committed, or written on the
        caller's connection by ``project_on``)."""
        return self._position

    async def catch_up(self) -> int:
        """Replay up to ``until`` (default: the head), one write transaction per batch;
        the position reached. Raises ``ProjectionFailed`` at an event that does not fold
        (the batches before it are committed)."""
        conn = await asyncio.to_thread(self._connect)
        loop = asyncio.get_running_loop()
        writing: asyncio.Future[None] | None = None
        try:
            rows = self._read()
            while rows:
                statements = self._fold(rows)
                if writing is not None:
                    await self._committed(writing)
                following = self._read()  # before the write starts: reads beside it are slower
                # submitted at once (``to_thread`` would start it only at the next await,
                # after the next batch is folded). It overlaps the fold less than it could:
                # executemany takes the GIL back after every row's step, and waits for it
                # while this thread folds, so most of it still runs at ``_committed``.
                writing = loop.run_in_executor(None, _commit, conn, statements)
                self._writing_to = rows[-1][0]
                rows = following
            if writing is not None:
                await self._committed(writing)
        finally:
            if writing is not None:
                # Interrupted or failed: a thread may still write on ``conn``; let it finish.
                await asyncio.wait([writing])
                if not writing.cancelled():
                    writing.exception()  # what propagates is the first failure, if any
            conn.close()
        return self._position

    async def _committed(self, writing: asyncio.Future[None]) -> None:
        try:
            await asyncio.shield(writing)  # cancelled, the caller still waits for the thread
        except Exception as exc:
            raise ProjectionFailed(self._names, self._position + 1, exc) from exc
        self._position = self._writing_to

    async def project_on(self, conn: AsyncConnection, until: int) -> int:
        """Replay up to ``until`` on ``conn``, in a write transaction the caller holds and
        commits (the online rebuild's tail, under the swap's lock); the position reached
        (short of ``until`` if events are missing). If the caller's transaction fails,
        discard this projector."""
        self.until = until
        while self._folded_to < until and (rows := self._read()):
            for sql, parameters in self._fold(rows):
                if parameters:
                    await conn.exec_driver_sql(sql, parameters)
            self._position = rows[-1][0]
        return self._position

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._target,
            timeout=BUSY_TIMEOUT,
            isolation_level=None,
            check_same_thread=False,  # used by one thread at a time, each batch in a worker
        )
        for pragma in self._pragmas:
            conn.execute(pragma)
        return conn

    # --- a batch ------------------------------------------------------------------------

    def _read(self) -> list[_Row]:
        bound = _NO_LIMIT if self.until is None else self.until
        rows: list[_Row] = self._log.conn.execute(
            _SCAN, (self._folded_to, bound, self._batch_size)
        ).fetchall()
        if rows and self._on_read is not None:
            self._on_read(len(rows))
        return rows

    def _fold(self, rows: list[_Row]) -> _Batch:
        """Fold ``rows`` onto their orders; the batch's statements (its orders are taken as
        written: whatever fails after this fails the whole rebuild)."""
        orders, numbering = self._orders, self._numbering
        touched: dict[str, _Folded] = {}
        numbered: list[tuple[str, str, int]] = []
        loads, placed, decoders = orjson.loads, OrderPlaced, self._decoders
        for row in rows:
            position, stream_id, _, type_name, version, data, metadata, recorded_at = row
            try:
                parsed = loads(data)  # first, as in ``decode(type, loads(data), version)``
                event = (decoders.get((type_name, version)) or self._decoder(row))(parsed)
                if isinstance(event, placed):  # a new order, even on a used stream (as live)
                    order = evolve(None, event)
                    day = order.business_day
                    number = numbering.next_number(day)
                    numbered.append((order.order_id, day, number))
                    self._numbers[order.order_id] = number
                    folded = _Folded(order, number, _at(metadata, recorded_at), row)
                    previous = orders.get(stream_id)
                    folded.stored = previous is not None and previous.stored
                    orders[stream_id] = folded
                else:
                    folded = orders.get(stream_id) or self._refold(row)
                    # ``_advance``, inline: this runs for every event
                    folded.order = order = evolve(folded.order, event)
                    folded.position = position
                    folded.metadata = metadata
                    folded.recorded_at = recorded_at
                    if folded.sent_at is None and order.fired_ever:
                        folded.sent_at = _at(metadata, recorded_at)
                        folded.sent_position = position
            except Exception as exc:
                raise ProjectionFailed(self._names, position, exc) from exc
            touched[stream_id] = folded
        statements = self._statements(touched.values(), numbered, rows[-1][0])
        self._folded_to = rows[-1][0]
        for stream_id, folded in touched.items():
            folded.stored = True
            if folded.order.discarded or folded.order.status in FINAL_STATUSES:
                orders.pop(stream_id, None)  # no command changes it any more
        return statements

    def _decoder(self, row: _Row) -> Decoder:
        """``domain.codec.decode`` for the type and schema version of ``row``, kept for the
        rows of that kind that follow (it raises what ``decode`` would for this row)."""
        key = (row[3], row[4])
        decode_data = self._decoders[key] = decoder(*key)
        return decode_data

    @staticmethod
    def _advance(folded: _Folded, order: Order, row: _Row) -> None:
        """``projector.next_meta`` on the order's record: it is now at ``row`` (``_fold``
        does the same inline)."""
        folded.order = order
        folded.position = row[0]
        folded.metadata = row[6]
        folded.recorded_at = row[7]
        if folded.sent_at is None and order.fired_ever:
            folded.sent_at = _at(row[6], row[7])
            folded.sent_position = row[0]

    def _refold(self, row: _Row) -> _Folded:
        """The order of ``row`` before it, folded from its stream (it was dropped once final);
        an order never placed gives ``evolve``'s refusal of ``row``'s event."""
        past: list[_Row] = self._log.conn.execute(_STREAM, (row[1], row[2])).fetchall()
        folded: _Folded | None = None
        for event_row in past:
            event = decode(event_row[3], orjson.loads(event_row[5]), event_row[4])
            order = evolve(folded.order if folded is not None else None, event)
            if folded is None:
                number = self._numbers.get(order.order_id)
                folded = _Folded(order, number, _at(event_row[6], event_row[7]), event_row)
            else:
                self._advance(folded, order, event_row)
        if folded is None:
            evolve(None, decode(row[3], orjson.loads(row[5]), row[4]))
            raise AssertionError("unreachable: evolve refuses an order that was never placed")
        folded.stored = True  # dropped only after it was written
        self._orders[row[1]] = folded
        return folded

    def _statements(
        self, touched: Iterable[_Folded], numbered: list[tuple[str, str, int]], last: int
    ) -> _Batch:
        sql = self._sql
        views: list[dict[str, Any]] = []
        tickets: list[dict[str, Any]] = []
        items: list[dict[str, Any]] = []
        gone: list[tuple[str]] = []
        cleared: list[tuple[str]] = []
        off_board: list[tuple[str]] = []
        for folded in touched:
            order = folded.order
            key = (order.order_id,)
            if order.discarded:
                if folded.stored:
                    gone.append(key)
                    off_board.append(key)
                continue
            tracked = folded.tracked()
            if self._views:
                views.append(view_row(tracked, render_order(tracked)))
            if not self._kitchen:
                continue
            if tracked.in_kitchen:
                tickets.append(ticket_row(tracked))
                if folded.stored:
                    cleared.append(key)
                items.extend(ticket_item_rows(order.order_id, kitchen_items(order)))
            elif folded.stored:
                off_board.append(key)
        statements: _Batch = []
        if self._views:
            statements.append((sql.delete_view, gone))
            statements.append((sql.views.sql, sql.views.rows(views)))
        if self._kitchen:
            statements.append((sql.delete_items, off_board + cleared))
            statements.append((sql.delete_ticket, off_board))
            statements.append((sql.tickets.sql, sql.tickets.rows(tickets)))
            statements.append((sql.items.sql, sql.items.rows(items)))
        numbering = self._numbering
        numbers = [{"order_id": o, "business_day": d, "number": n} for o, d, n in numbered]
        days = dict.fromkeys(d for _, d, _ in numbered)
        counters = [{"business_day": d, "last_number": numbering.last_number(d)} for d in days]
        now = datetime.now(UTC)
        checkpoints = [
            {"name": n, "position": last, "updated_at": now, "last_error": None}
            for n in self._names
        ]
        statements.append((sql.numbers.sql, sql.numbers.rows(numbers)))
        statements.append((sql.counters.sql, sql.counters.rows(counters)))
        statements.append((sql.checkpoints.sql, sql.checkpoints.rows(checkpoints)))
        return statements


def _commit(conn: sqlite3.Connection, statements: _Batch) -> None:
    """Run ``statements`` in one write transaction on ``conn``."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for sql, rows in statements:
            if rows:
                conn.executemany(sql, rows)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
