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
  checkpoints, as the live projector's plain SQL and tuples of stored values
  (``handlers.PlainSql``, ``view_row_values`` …), up to ``ROWS_PER_STATEMENT`` rows a
  statement; the transaction runs in a thread while the next batch is folded (a statement
  runs without the GIL);
- each time an order shows is formatted once, as the view shows it: placed and first sent
  when they happen, last updated when the order is written; an ``occurred_at`` already in
  that form (what the service writes) is taken as it is, once ``fromisoformat`` accepts it.

Why the rows are the live projector's: its handlers write, per batch, the *final* state
of every order the batch touched (upserts and deletes keyed by order), so the tables after
a batch depend only on each order's state at its end; row, view and ticket shapes come
from the same functions (``handlers.view_row_values``, ``views.order_view`` …). Folding in
position order gives the state the live projector's cache or stream refold gives on a
store whose stream versions are dense (what ``store verify`` checks). Numbers are given
by the domain's ``OrderNumbering`` in position order, as live.

An order that reached a final status (or was discarded) is dropped from memory once
written; an event for it later (an old stream) refolds it from its stream, as the live
projector does after a cache miss.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import Any, Final

import orjson
from sqlalchemy import Table
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
    stored_time,
    ticket_item_values,
    ticket_row_values,
    upsert_parts,
    view_row_values,
)
from infrastructure.read_models.tables import (
    KITCHEN_TICKET_ITEMS,
    KITCHEN_TICKETS,
    ORDER_NUMBER_COUNTERS,
    ORDER_VIEWS,
    PROJECTION_CHECKPOINTS,
    iso,
)
from infrastructure.read_models.tables import ORDER_NUMBERS as ORDER_NUMBERS_TABLE
from infrastructure.read_models.views import KITCHEN_STATUSES, kitchen_items, order_view
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


class _Folded:
    """An order as folded so far, with what its rows need beyond ``Order``: the view's
    times (``iso`` text) and positions of its placement and first firing, and the row of
    its last event (its ``updated_at`` is formatted from that row's ``metadata`` and
    ``recorded_at`` only when the order is written)."""

    __slots__ = (
        "created",
        "created_position",
        "number",
        "order",
        "row",
        "sent",
        "sent_position",
        "stored",
    )

    def __init__(self, order: Order, number: int | None, row: _Row) -> None:
        position = row[0]
        at = _at(row[6], row[7])
        self.order = order
        self.number = number
        self.created = at
        self.created_position = position
        self.row = row
        fired = order.fired_ever
        self.sent: str | None = at if fired else None
        self.sent_position: int | None = position if fired else None
        self.stored = False
        """Whether rows of it may be in the tables (written by an earlier batch)."""

    def advance(self, order: Order, row: _Row) -> None:
        """``projector.next_meta`` on this record: the order is now ``order``, at ``row``
        (``BulkProjector._fold`` does the same inline)."""
        self.order = order
        if self.sent is None and order.fired_ever:
            self.sent = self.time_of(row)
            self.sent_position = row[0]
        self.row = row

    def time_of(self, row: _Row) -> str:
        """``_at`` of ``row``, the event after ``self.row``: when both are the events an order
        was placed and fired with (one command: the same metadata), the placement's text."""
        last = self.row
        if last[0] == self.created_position and last[6] == row[6] and last[7] == row[7]:
            return self.created
        return _at(row[6], row[7])


_VIEW_TIME: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}\+00:00"
)
"""``iso``'s form of a time (UTC, microseconds), ASCII digits only."""


def _at(metadata: str, recorded_at: str) -> str:
    """``iso(views.occurred_at(…))`` of a stored row: the view's text of its ``occurred_at``
    metadata, else of its recorded_at.

    ``iso`` costs ~2 µs a call; the service writes ``occurred_at`` in the view's form (but
    for a time on a whole second), and text of that form that ``fromisoformat`` accepts is
    what ``iso`` gives back (every field is read as written, the zone is UTC)."""
    raw = orjson.loads(metadata).get("occurred_at")  # as ``views.occurred``
    if isinstance(raw, str):
        at = datetime.fromisoformat(raw)  # raises what ``occurred`` raises
        return raw if _VIEW_TIME.fullmatch(raw) else iso(at)
    return iso(datetime.fromisoformat(recorded_at))


class _Many:
    """A statement on rows of ``width`` values: ``one`` for a row (``executemany``), and
    ``sql(n)`` for ``n`` rows at once, applied in their order (``head``, ``row`` n times
    joined by ", ", ``tail``)."""

    __slots__ = ("_head", "_row", "_tail", "one", "width")

    def __init__(self, head: str, row: str, tail: str) -> None:
        self._head, self._row, self._tail = head, row, tail
        self.one = head + row + tail
        self.width = row.count("?")

    def sql(self, rows: int) -> str:
        return self._head + ", ".join([self._row] * rows) + self._tail


def _upsert(table: Table, keys: tuple[str, ...], prefix: str) -> _Many:
    return _Many(*upsert_parts(table, keys, prefix))


def _delete(table: Table, key: str, prefix: str) -> _Many:
    return _Many(f"DELETE FROM {prefix}{table.name} WHERE {key} IN (", "?", ")")


class _Statements:
    """The SQL of a batch, on the tables named ``prefix`` + the live name."""

    def __init__(self, prefix: str) -> None:
        self.views = _upsert(ORDER_VIEWS, ("id",), prefix)
        self.tickets = _upsert(KITCHEN_TICKETS, ("order_id",), prefix)
        self.items = _upsert(KITCHEN_TICKET_ITEMS, ("order_id", "item_id"), prefix)
        self.numbers = _upsert(ORDER_NUMBERS_TABLE, ("order_id",), prefix)
        self.counters = _upsert(ORDER_NUMBER_COUNTERS, ("business_day",), prefix)
        self.checkpoints = _upsert(PROJECTION_CHECKPOINTS, ("name",), prefix)
        self.delete_view = _delete(ORDER_VIEWS, "id", prefix)
        self.delete_ticket = _delete(KITCHEN_TICKETS, "order_id", prefix)
        self.delete_items = _delete(KITCHEN_TICKET_ITEMS, "order_id", prefix)


_Batch = list[tuple[_Many, list[Any]]]
"""A batch's statements and their rows (tuples of ``width`` values), in order."""

ROWS_PER_STATEMENT: Final = 1_000
"""Rows a batch writes with one statement (fewer if SQLite allows fewer parameters).

``executemany`` takes the GIL back after every row's step, and waits for it while the
event loop's thread folds the next batch: the write hardly ran beside the fold. A
statement of many rows is bound at once and runs in one step, without the GIL."""


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
        with tuning.prompt_handoffs():  # the writer takes the GIL between statements
            try:
                rows = self._read()
                while rows:
                    statements = self._fold(rows)
                    if writing is not None:
                        await self._committed(writing)
                    following = self._read()  # before the write starts: reads beside it are slower
                    # submitted at once (``to_thread`` would start it only at the next await,
                    # after the next batch is folded). It runs beside the fold: each statement
                    # writes many rows in one step without the GIL (``ROWS_PER_STATEMENT``).
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
            for statement, parameters in self._fold(rows):
                if parameters:
                    await conn.exec_driver_sql(statement.one, parameters)
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
            position, stream_id, _, type_name, version, data, _, _ = row
            try:
                parsed = loads(data)  # first, as in ``decode(type, loads(data), version)``
                event = (decoders.get((type_name, version)) or self._decoder(row))(parsed)
                if isinstance(event, placed):  # a new order, even on a used stream (as live)
                    order = evolve(None, event)
                    day = order.business_day
                    number = numbering.next_number(day)
                    numbered.append((order.order_id, day, number))
                    self._numbers[order.order_id] = number
                    folded = _Folded(order, number, row)
                    previous = orders.get(stream_id)
                    folded.stored = previous is not None and previous.stored
                    orders[stream_id] = folded
                else:
                    folded = orders.get(stream_id) or self._refold(row)
                    # ``folded.advance``, inline: this runs for every event
                    folded.order = order = evolve(folded.order, event)
                    if folded.sent is None and order.fired_ever:
                        folded.sent = folded.time_of(row)
                        folded.sent_position = position
                    folded.row = row
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
                folded = _Folded(order, number, event_row)
            else:
                folded.advance(order, event_row)
        if folded is None:
            evolve(None, decode(row[3], orjson.loads(row[5]), row[4]))
            raise AssertionError("unreachable: evolve refuses an order that was never placed")
        folded.stored = True  # dropped only after it was written
        self._orders[row[1]] = folded
        return folded

    def _statements(
        self, touched: Iterable[_Folded], numbered: list[tuple[str, str, int]], last: int
    ) -> _Batch:
        """The batch's rows as the live projector's one-hop writer stores them (its
        ``PlainSql`` tuples: ``view_row_values``, ``ticket_row_values`` …)."""
        sql = self._sql
        views: list[tuple[Any, ...]] = []
        tickets: list[tuple[Any, ...]] = []
        items: list[tuple[Any, ...]] = []
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
            if self._views:
                at = folded.row
                updated = _at(at[6], at[7])
                view = order_view(order, folded.number, at[0], folded.created, updated, folded.sent)
                views.append(view_row_values(view, folded.created_position))
            if not self._kitchen:
                continue
            sent = folded.sent
            if order.status in KITCHEN_STATUSES and sent is not None:  # ``in_kitchen``
                tickets.append(
                    ticket_row_values(
                        order, folded.number, sent, folded.sent_position, folded.row[0]
                    )
                )
                if folded.stored:
                    cleared.append(key)
                items.extend(ticket_item_values(order.order_id, kitchen_items(order)))
            elif folded.stored:
                off_board.append(key)
        statements: _Batch = []
        if self._views:
            statements.append((sql.delete_view, gone))
            statements.append((sql.views, views))
        if self._kitchen:
            statements.append((sql.delete_items, off_board + cleared))
            statements.append((sql.delete_ticket, off_board))
            statements.append((sql.tickets, tickets))
            statements.append((sql.items, items))
        numbering = self._numbering
        days = dict.fromkeys(d for _, d, _ in numbered)
        counters = [(d, numbering.last_number(d)) for d in days]
        now = stored_time(datetime.now(UTC))
        checkpoints = [(n, last, now, None) for n in self._names]
        statements.append((sql.numbers, numbered))
        statements.append((sql.counters, counters))
        statements.append((sql.checkpoints, checkpoints))
        return statements


def _commit(conn: sqlite3.Connection, statements: _Batch) -> None:
    """Run ``statements`` in one write transaction on ``conn``, up to ``ROWS_PER_STATEMENT``
    rows a statement."""
    parameters = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement, rows in statements:
            step = max(1, min(ROWS_PER_STATEMENT, parameters // statement.width))
            for start in range(0, len(rows), step):
                chunk = rows[start : start + step]
                conn.execute(statement.sql(len(chunk)), list(chain.from_iterable(chunk)))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
