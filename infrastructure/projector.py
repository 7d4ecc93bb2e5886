"""The projector: the one reader of the event store that feeds the read models and screens.

It reads ``store.read_all`` in position order, batch by batch. Per batch, in ONE
write transaction, it folds every event onto its order with ``domain.decider.evolve``
(the domain's rules, not a copy of them), numbers new orders with the domain's
``OrderNumbering`` fold, lets every projection handler write its rows and advances
each projection's checkpoint; it commits; THEN wakes ``wait_for_position`` callers
(read-your-writes for the REST layer) and hands the batch to the broadcaster, before it
reads the next batch. Waking the waiters first lets a command's HTTP response go out
ahead of the batch's fan-out writes (the broadcaster only queues packets; each socket's
writer sends them next); a join right after a response is still gapless, because joins
take their snapshot from the committed read models and catch up on what is published
after (``interfaces.realtime.resume``).

Failures: a handler or event that fails rolls the whole batch back, is logged and
noted in ``last_error`` (and on the checkpoint rows), and the batch is retried with
backoff; the projector never skips past it. A broadcaster that raises or hangs is
logged and skipped: it never undoes, blocks or stops projection.

Recent order states are kept in an LRU keyed by order id and checked against the
stream version; a miss refolds the order from ``store.read_stream`` (and takes its
ticket number from ``order_numbers``, which keeps discarded orders' numbers too).

``rebuild(store, engine)`` truncates the read models and replays from position 0 with
no broadcaster (what the replay CLI runs offline). Online, the replay tooling rebuilds into
shadow tables and swaps them in; it applies its last events with ``project_on`` under the
write lock it holds for the swap and bumps the generation row in the same transaction, so
this projector, checking the generation in each of its write transactions, notices, drops
that batch and reloads checkpoints, counters and cache (``infrastructure.replay``).
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import itertools
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TypeVar, cast

from sqlalchemy import Connection, Engine, select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.dml import Insert

from domain.business_day import OrderNumbering
from domain.codec import decode_recorded
from domain.decider import evolve
from domain.events import (
    Event,
    ItemBumped,
    ItemChanged,
    ItemRecalled,
    ItemRemoved,
    ItemsAdded,
    ItemsFired,
    ItemsHeld,
    ItemsReleased,
    ItemVoided,
    OrderPlaced,
)
from domain.model import Order
from domain.ports import EventStore, RecordedEvent, Upcaster
from infrastructure.broadcast import Broadcaster, Facts, NullBroadcaster, ProjectedEvent
from infrastructure.read_models.engine import WRITE_OPTION, sqlite_writer_engine
from infrastructure.read_models.handlers import (
    GENERATION,
    NumberedOrder,
    PlainSql,
    Projection,
    default_projections,
    load_checkpoints,
    load_counters,
    load_generation,
    record_error,
    reset_checkpoints,
    reset_numbering,
    save_checkpoints,
    save_counters,
    save_numbers,
    stored_number,
)
from infrastructure.read_models.tables import PROJECTION_CHECKPOINTS
from infrastructure.read_models.views import (
    OrderChange,
    OrderMeta,
    TrackedOrder,
    kitchen_items,
    occurred_at,
    stations_of,
)

__all__ = ["ORDER_NUMBERS", "Projector", "next_meta", "projected_event", "rebuild"]

_LOG = logging.getLogger(__name__)

ORDER_NUMBERS: Final = "order_numbers"
"""Checkpoint name of the order numbering (tables ``order_numbers``, ``order_number_counters``)."""

_T = TypeVar("_T")
_CLOCK_TICK: Final = 0.001
_InsertPlan = tuple[str, tuple[tuple[str, Callable[[Any], Any] | None], ...]]
"""An INSERT's SQL and, in parameter order, each parameter's name and bind processor."""
_Reader = Callable[[], Awaitable[AsyncConnection]]
_GENERATION_SQL: Final = f"SELECT position FROM {PROJECTION_CHECKPOINTS.name} WHERE name = ?"


READ_MODELS_SYNCHRONOUS: Final = "NORMAL"
"""The read models' durability on SQLite: they are rebuilt from the events."""


def _writer_lender(store: EventStore, engine: AsyncEngine) -> Any:
    """The store's ``run_with_writer_connection`` if it writes ``engine``'s SQLite file:
    one connection for both writers keeps its page cache (see that method)."""
    lend = getattr(store, "run_with_writer_connection", None)
    path = getattr(store, "path", None)
    url = engine.url
    if lend is None or path is None or url.get_backend_name() != "sqlite":
        return None
    if url.database in (None, "", ":memory:"):
        return None
    return lend if Path(url.database).resolve() == path else None


async def _within(coro: Coroutine[Any, Any, None], seconds: float) -> None:
    """``await coro``, for at most ``seconds``; no timer unless it suspends.

    For the broadcaster's ``publish``, which usually returns without awaiting anything: a
    timeout (a timer armed and cancelled) per batch was ~1 % of a command's CPU. Its first
    step runs here (synchronous work cannot be interrupted anyway); only if it suspends is
    the rest awaited under ``asyncio.timeout``.
    """
    try:
        suspended = coro.send(None)
    except StopIteration:
        return
    async with asyncio.timeout(seconds):
        await _Resumed(coro, suspended)


class _Resumed:
    """The rest of a coroutine already run to its first suspension, as ``await`` would run
    it: what it yields goes to the task, what the task sends or throws goes back in."""

    __slots__ = ("_coro", "_yielded")

    def __init__(self, coro: Coroutine[Any, Any, None], yielded: Any) -> None:
        self._coro = coro
        self._yielded = yielded

    def __await__(self) -> Generator[Any, Any, None]:
        coro, yielded = self._coro, self._yielded
        while True:
            try:
                sent = yield yielded
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:
                try:
                    yielded = coro.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    yielded = coro.send(sent)
                except StopIteration:
                    return


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class ProjectionFailed(RuntimeError):
    """A batch could not be projected; ``projections`` names the checkpoints it blocks."""

    def __init__(self, projections: Sequence[str], position: int, cause: BaseException) -> None:
        super().__init__(
            f"projection {', '.join(projections)} failed at or after position {position}: "
            f"{type(cause).__name__}: {cause}"
        )
        self.projections = tuple(projections)
        self.position = position
        self.__cause__ = cause


class _ReadModelsSwapped(Exception):
    """The read models were swapped in since this projector loaded them."""


class Projector:
    """Feeds the read models (and then the broadcaster) from the event store."""

    def __init__(
        self,
        store: EventStore,
        engine: AsyncEngine,
        broadcaster: Broadcaster | None = None,
        *,
        batch_size: int = 500,
        handlers: Sequence[Projection] | None = None,
        cache_size: int = 10_000,
        idle_timeout: float | None = None,
        retry_delay: float = 0.1,
        max_retry_delay: float = 10.0,
        publish_timeout: float = 5.0,
        upcasters: Upcaster | None = None,
        one_hop_writes: bool = False,
    ) -> None:
        """``one_hop_writes``: on an SQLite file, run each batch's write transaction in one
        call on a thread of its own (the store's writer thread when it has one), through a
        plain ``sqlite3`` engine on the same file whose one connection it keeps: the default
        handlers give their rows as ``PlainSql`` tuples, run on ``sqlite3`` directly; other
        statements are compiled as on ``engine``. ``engine``'s event listeners, such as the
        replay tooling's table renames, do not apply: leave it off for such engines.

        ``idle_timeout``: how long the loop waits for the store's head to move before it
        looks again; ``None`` (the default): until it moves, which every append in this
        process and the store's polling for other processes' writes report (no timer armed
        and cancelled per batch); ``stop()`` ends the wait either way."""
        if batch_size < 1 or cache_size < 1:
            raise ValueError("batch_size and cache_size must be at least 1")
        self._store = store
        self._engine = engine
        self._broadcaster = broadcaster or NullBroadcaster()
        self._batch_size = batch_size
        self._handlers = tuple(default_projections() if handlers is None else handlers)
        self._names = (*(h.name for h in self._handlers), ORDER_NUMBERS)
        if len(set(self._names)) != len(self._names):
            raise ValueError(f"projection names must be unique: {self._names}")
        self._cache = _OrderCache(cache_size)
        self._idle_timeout = idle_timeout
        self._retry_delay = retry_delay
        self._max_retry_delay = max_retry_delay
        self._publish_timeout = publish_timeout
        self._upcasters = upcasters
        self._checkpoints: dict[str, int] = {}
        self._numbering = OrderNumbering()
        self._position = 0
        self._generation = 0
        self._loaded = False
        self._last_error: str | None = None
        self._failures = 0
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._expiries: list[tuple[float, int, asyncio.Future[None]]] = []
        """``wait_for_position`` deadlines (a heap), served by one timer."""
        self._expiry_timer: asyncio.TimerHandle | None = None
        self._waiter_ids = itertools.count()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pause: asyncio.Future[Any] | None = None
        """What the loop waits for between batches (``_unless_stopped``)."""
        # SQLite file: each batch's write transaction runs in one call on this thread.
        # When the store checkpoints the WAL from its own thread, this writer does not.
        autocheckpoint = not getattr(store, "checkpoints_in_background", False)
        self._sync_writer: Engine | None = (
            sqlite_writer_engine(engine, autocheckpoint=autocheckpoint) if one_hop_writes else None
        )
        self._writer_conn: Connection | None = None
        """The writer engine's one connection, kept open on the writer thread."""
        self._writer_thread: ThreadPoolExecutor | None = None
        self._lender = _writer_lender(store, engine) if one_hop_writes else None
        """The event store's ``run_with_writer_connection`` when it is on the same file."""
        self._compiled: dict[tuple[int, tuple[str, ...]], tuple[Insert, _InsertPlan | None]] = {}

    # --- what the service reads -------------------------------------------------------

    @property
    def position(self) -> int:
        """The position every read model has reached (its batch is broadcast before the
        projector reads the next one)."""
        return self._position

    def view_text_of(self, order_id: str, version: int) -> str | None:
        """The order's read-model view at ``version`` as JSON text, from memory, if that is
        the version the read models hold (committed: at or below ``position``); None
        otherwise.

        What a command response shows once ``wait_for_position`` returned: the same view the
        projector just wrote (the very text of its ``order_views`` row), without reading it
        back from the database or encoding it again.
        """
        return self._cache.view_text(order_id, version, self._position)

    @property
    def last_error(self) -> str | None:
        """The failure the projector is retrying, or None while it is healthy."""
        return self._last_error

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def lag(self) -> int:
        """How many events the read models are behind the store's head."""
        return max(0, await self._store.head_position() - self._position)

    async def wait_for_position(self, position: int, timeout: float) -> bool:
        """True once every read model has reached ``position``; False after ``timeout`` s."""
        if self._position >= position:
            return True
        # One future per waiter, in a heap by position: an advance wakes only the waiters
        # it satisfies (no wake-up and re-check of all of them per batch).
        loop = asyncio.get_running_loop()
        reached: asyncio.Future[None] = loop.create_future()
        waiter = next(self._waiter_ids)
        heapq.heappush(self._waiters, (position, waiter, reached))
        self._expire_at(loop, loop.time() + timeout, waiter, reached)
        await reached
        return self._position >= position

    def _expire_at(
        self,
        loop: asyncio.AbstractEventLoop,
        deadline: float,
        waiter: int,
        reached: asyncio.Future[None],
    ) -> None:
        """Settle ``reached`` at ``deadline`` unless it is settled before.

        One timer for all the waiters, at the earliest deadline still pending, instead of a
        timer armed and cancelled per command (~1 % of a command's CPU): waiters that were
        reached are dropped from the front of the deadline heap as new ones come in.
        """
        expiries = self._expiries
        while expiries and expiries[0][2].done():
            heapq.heappop(expiries)
        heapq.heappush(expiries, (deadline, waiter, reached))
        timer = self._expiry_timer
        if timer is None or deadline < timer.when():
            if timer is not None:
                timer.cancel()
            self._expiry_timer = loop.call_at(deadline, self._expire, loop)

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        """The expiry timer: settle the waiters past their deadline, re-arm for the next."""
        self._expiry_timer = None
        # A timer may fire up to a clock tick early (uvloop counts whole milliseconds).
        expiries, now = self._expiries, loop.time() + _CLOCK_TICK
        while expiries and (expiries[0][0] <= now or expiries[0][2].done()):
            _settle(heapq.heappop(expiries)[2])
        if expiries:
            self._expiry_timer = loop.call_at(expiries[0][0], self._expire, loop)

    # --- life cycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Load the checkpoints and start projecting in a background task."""
        if self._task is not None:
            raise RuntimeError("the projector is already started")
        await self._load()
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="projector")

    async def stop(self) -> None:
        """Stop after the batch in hand is committed and broadcast."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        if self._pause is not None:
            self._pause.cancel()
        await task
        if self._sync_writer is not None:
            await self._run_writer(self._close_writer)
        if self._writer_thread is not None:
            self._writer_thread.shutdown(wait=False)
            self._writer_thread = None

    async def catch_up(self) -> int:
        """Project (in the caller's task) until the store has nothing more; the position.

        For tools and tests: a failing batch is recorded and raised, not retried.
        """
        if self.running:
            raise RuntimeError("the projector is running; stop it first")
        await self._load()
        try:
            while batch := await self._store.read_all(self._position, self._batch_size):
                try:
                    await self._process(batch)
                except ProjectionFailed as exc:
                    await self._note_failure(exc)
                    raise
        finally:
            if self._writer_conn is not None:
                await self._run_writer(self._release_writer)
        return self._position

    async def reset(self) -> None:
        """Delete every read-model row, counter and checkpoint (a rebuild starts at zero)."""
        if self.running:
            raise RuntimeError("the projector is running; stop it first")
        async with self._write() as conn, conn.begin():
            for handler in self._handlers:
                await handler.reset(conn)
            await reset_numbering(conn)
            await reset_checkpoints(conn, self._names)
        self._cache.clear()
        self._loaded = False
        await self._load()

    async def project_on(self, conn: AsyncConnection, batch: Sequence[RecordedEvent]) -> None:
        """Project ``batch`` on ``conn``, inside a write transaction the caller holds and commits.

        For the replay tooling: it applies the last events of a shadow rebuild under the write
        lock it holds for the swap. Nothing is broadcast. If the caller's transaction fails,
        discard this projector (its in-memory state has moved on).
        """
        if self.running:
            raise RuntimeError("the projector is running; stop it first")
        await self._load()
        if batch:
            await self._commit(batch, conn)
            self._position = batch[-1].position

    # --- the loop ---------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                batch = await self._store.read_all(self._position, self._batch_size)
                if batch:
                    await self._process(batch)
                if len(batch) < self._batch_size:
                    # A short page: the projector has reached the head the store knows.
                    # Wait for it to move rather than read again (a read past the head is
                    # a query of the file; the wait returns at once if it moved meanwhile
                    # and notices other processes' writes as the store's contract says).
                    await self._unless_stopped(
                        self._store.wait_for_events(self._position, self._idle_timeout)
                    )
            except ProjectionFailed as exc:
                await self._note_failure(exc)
                await self._back_off()
            except Exception as exc:  # the store itself failed (locked, I/O): same treatment
                await self._note_failure(ProjectionFailed(self._names, self._position + 1, exc))
                await self._back_off()

    async def _process(self, batch: Sequence[RecordedEvent]) -> None:
        try:
            changes = await self._commit(batch)
        except _ReadModelsSwapped:
            await self._reload()
            return
        self._failures = 0
        self._last_error = None
        self._position = batch[-1].position
        if self._wake_waiters():
            # Let the woken commands answer first: the broadcaster may write to every
            # subscriber's socket right away (straight writes), which would hold their
            # HTTP responses behind the whole fan-out.
            await asyncio.sleep(0)
        await self._publish(changes)

    async def _commit(
        self, batch: Sequence[RecordedEvent], conn: AsyncConnection | None = None
    ) -> list[OrderChange]:
        """Project ``batch`` and advance the checkpoints in one transaction (or in ``conn``'s)."""
        numbering = OrderNumbering(self._numbering.snapshot())
        last = batch[-1].position
        checkpoints = {name: max(cp, last) for name, cp in self._checkpoints.items()}
        try:
            if conn is not None:

                async def given() -> AsyncConnection:
                    return conn

                changes, numbered = await self._changes(given, batch, numbering)
                await self._save(conn, changes, numbered, numbering, checkpoints)
            else:
                # Folding may read (a cache miss); it runs before the write lock is taken: this
                # projector is the only writer of its tables, except for a swap, which the
                # generation check below notices.
                async with AsyncExitStack() as stack:
                    opened: list[AsyncConnection] = []

                    async def reader() -> AsyncConnection:  # opened on the first cache miss
                        if not opened:
                            opened.append(await stack.enter_async_context(self._engine.connect()))
                        return opened[0]

                    changes, numbered = await self._changes(reader, batch, numbering)
                if self._sync_writer is not None:
                    statements = _Statements(self._engine.dialect)
                    await self._save(
                        cast(AsyncConnection, statements), changes, numbered, numbering, checkpoints
                    )
                    await self._write_in_one_hop(statements, batch[0].position)
                else:
                    async with self._write() as writer, writer.begin():
                        if await load_generation(writer) != self._generation:
                            raise _ReadModelsSwapped
                        await self._save(writer, changes, numbered, numbering, checkpoints)
        except BaseException:
            self._cache.clear()  # it may hold states of the batch that was rolled back
            raise
        self._checkpoints = checkpoints
        self._numbering = numbering
        self._cache.settle(changes)
        self._cache.trim()
        return changes

    async def _save(
        self,
        conn: AsyncConnection,
        changes: list[OrderChange],
        numbered: list[NumberedOrder],
        numbering: OrderNumbering,
        checkpoints: dict[str, int],
    ) -> None:
        for handler in self._handlers:
            await self._apply(handler, conn, changes)
        await save_numbers(conn, numbered)
        days = {day for _, day, _ in numbered}
        await save_counters(conn, {day: numbering.last_number(day) for day in days})
        await save_checkpoints(conn, checkpoints, datetime.now(UTC))

    async def _write_in_one_hop(self, statements: _Statements, position: int) -> None:
        """Run the recorded statements in one ``BEGIN IMMEDIATE`` transaction on the writer
        thread (after checking the generation, as the async path does): on the event
        store's own connection when it lends it (same file, only ``PlainSql``), else on
        the writer engine's."""
        if self._lender is not None and all(
            type(statement) is PlainSql for _, statement, _ in statements.calls
        ):
            write = functools.partial(self._write_plain, statements, position)
            await self._lender(write, synchronous=READ_MODELS_SYNCHRONOUS)
            return
        await self._run_writer(functools.partial(self._write_sync, statements, position))

    async def _run_writer(self, work: Callable[[], None]) -> None:
        run_on_writer = getattr(self._store, "run_on_writer", None)
        if run_on_writer is not None:  # the SQLite store: between its commits, no lock waits
            await run_on_writer(work)
            return
        if self._writer_thread is None:
            self._writer_thread = ThreadPoolExecutor(1, thread_name_prefix="projector-writer")
        await asyncio.get_running_loop().run_in_executor(self._writer_thread, work)

    def _write_sync(self, statements: _Statements, position: int) -> None:
        assert self._sync_writer is not None
        conn = self._writer_conn
        if conn is None or conn.closed:
            conn = self._writer_conn = self._sync_writer.connect()
        if all(type(statement) is PlainSql for _, statement, _ in statements.calls):
            self._write_plain(statements, position, self._dbapi(conn))
            return
        with conn.begin():
            generation = conn.scalar(
                select(PROJECTION_CHECKPOINTS.c.position).where(
                    PROJECTION_CHECKPOINTS.c.name == GENERATION
                )
            )
            if int(generation or 0) != self._generation:
                raise _ReadModelsSwapped
            for owner, statement, parameters in statements.calls:
                try:
                    if type(statement) is PlainSql:
                        self._dbapi(conn).executemany(statement.sql, parameters)
                        continue
                    prepared = self._prepared(statement, parameters)
                    if prepared is None:
                        conn.execute(statement, parameters)
                    else:
                        self._dbapi(conn).executemany(*prepared)
                except Exception as exc:
                    names = [owner] if owner is not None else self._names
                    raise ProjectionFailed(names, position, exc) from exc

    def _write_plain(self, statements: _Statements, position: int, dbapi: Any) -> None:
        """The transaction of a batch whose statements are all ``PlainSql`` (the handlers'
        own, on SQLite): straight on the ``sqlite3`` connection, ``BEGIN IMMEDIATE`` as the
        engine's ``begin`` would, without SQLAlchemy's per-transaction work."""
        dbapi.execute("BEGIN IMMEDIATE")
        try:
            (generation,) = dbapi.execute(_GENERATION_SQL, (GENERATION,)).fetchone() or (0,)
            if int(generation or 0) != self._generation:
                raise _ReadModelsSwapped
            for owner, statement, parameters in statements.calls:
                try:
                    dbapi.executemany(statement.sql, parameters)
                except Exception as exc:
                    names = [owner] if owner is not None else self._names
                    raise ProjectionFailed(names, position, exc) from exc
            dbapi.execute("COMMIT")
        except BaseException:
            if dbapi.in_transaction:
                dbapi.execute("ROLLBACK")
            raise

    @staticmethod
    def _dbapi(conn: Connection) -> Any:
        dbapi = conn.connection.driver_connection
        assert dbapi is not None
        return dbapi

    def _release_writer(self) -> None:
        """On the writer thread: give the writer's connection back (the next batch takes it
        again)."""
        if self._writer_conn is not None:
            self._writer_conn.close()
            self._writer_conn = None

    def _close_writer(self) -> None:
        """On the writer thread: close the writer's connection and its engine."""
        assert self._sync_writer is not None
        self._release_writer()
        self._sync_writer.dispose()

    def _prepared(
        self, statement: Any, parameters: Any
    ) -> tuple[str, list[tuple[Any, ...]]] | None:
        """An executemany of an INSERT (the handlers' upserts, built once) as the SQL compiled
        for its parameters' keys and one tuple per row, bind processors applied: what
        SQLAlchemy would send, without its per-row and per-statement work (compiled forms are
        kept by statement object). None: run it through SQLAlchemy."""
        if not isinstance(statement, Insert) or not isinstance(parameters, list) or not parameters:
            return None
        first = parameters[0]
        if not isinstance(first, dict):
            return None
        key = (id(statement), tuple(first))
        entry = self._compiled.get(key)
        if entry is None:
            assert self._sync_writer is not None
            if len(self._compiled) >= 64:
                self._compiled.clear()
            compiled = statement.compile(dialect=self._sync_writer.dialect, column_keys=list(first))
            order = compiled.positiontup
            plan: _InsertPlan | None = None
            if order is not None and all(name in first for name in order):
                processors = compiled._bind_processors
                columns: list[tuple[str, Callable[[Any], Any] | None]] = []
                for name in order:
                    process = processors.get(name)
                    if process is not None and not callable(process):
                        break  # a tuple type's processors: not worth a fast path
                    columns.append((name, process))
                else:
                    plan = compiled.string, tuple(columns)
            # the entry holds the statement: its id cannot be reused while it is cached
            entry = self._compiled[key] = (statement, plan)
        plan = entry[1]
        if plan is None:
            return None
        sql, steps = plan
        if all(process is None for _, process in steps):
            names = [name for name, _ in steps]
            return sql, [tuple([row[name] for name in names]) for row in parameters]
        return sql, [
            tuple([row[n] if p is None else p(row[n]) for n, p in steps]) for row in parameters
        ]

    async def _apply(
        self, handler: Projection, conn: AsyncConnection, changes: list[OrderChange]
    ) -> None:
        done = self._checkpoints[handler.name]
        todo = [c for c in changes if c.event.position > done]
        if not todo:
            return
        if isinstance(conn, _Statements):
            conn.owner = handler.name
        try:
            await handler.apply(conn, todo)
        except Exception as exc:
            raise ProjectionFailed([handler.name], todo[0].event.position, exc) from exc
        finally:
            if isinstance(conn, _Statements):
                conn.owner = None

    async def _changes(
        self, reader: _Reader, batch: Sequence[RecordedEvent], numbering: OrderNumbering
    ) -> tuple[list[OrderChange], list[NumberedOrder]]:
        """Fold each event onto its order; the changes and the orders numbered."""
        numbered_to = self._checkpoints[ORDER_NUMBERS]
        numbered: list[NumberedOrder] = []
        changes: list[OrderChange] = []
        for recorded in batch:
            try:
                event = decode_recorded(recorded, self._upcasters)
                before = await self._before(reader, recorded, event)
                order = evolve(before.order if before else None, event)
                if before is not None:
                    number = before.meta.number
                elif recorded.position > numbered_to:
                    number = numbering.next_number(order.business_day)
                    numbered.append((order.order_id, order.business_day, number))
                else:  # numbered in an earlier run; a projection is catching up alone
                    number = await stored_number(await reader(), order.order_id)
                changes.append(self._change(recorded, event, before, order, number))
            except Exception as exc:
                raise ProjectionFailed(self._names, recorded.position, exc) from exc
        return changes, numbered

    def _change(
        self,
        recorded: RecordedEvent,
        event: Event,
        before: TrackedOrder | None,
        order: Order,
        number: int | None,
    ) -> OrderChange:
        if order.discarded:
            self._cache.pop(order.order_id)
            return OrderChange(recorded, event, before, None)
        after = TrackedOrder(order, next_meta(before, order, recorded, number))
        change = OrderChange(recorded, event, before, after)
        self._cache.put(after, change)  # its view is rendered when first asked for
        return change

    async def _before(
        self, reader: _Reader, recorded: RecordedEvent, event: Event
    ) -> TrackedOrder | None:
        """The order just before ``recorded``: from the cache, else refolded from its stream."""
        if isinstance(event, OrderPlaced):
            return None
        cached = self._cache.get(recorded.stream_id)
        if cached is not None and cached.version == recorded.stream_version - 1:
            return cached
        tracked: TrackedOrder | None = None
        for past in await self._store.read_stream(recorded.stream_id):
            if past.stream_version >= recorded.stream_version:
                break
            past_event = decode_recorded(past, self._upcasters)
            order = evolve(tracked.order if tracked else None, past_event)
            tracked = TrackedOrder(order, next_meta(tracked, order, past, None))
        if tracked is None:
            return None  # evolve will refuse the event: nothing was placed
        number = await stored_number(await reader(), recorded.stream_id)
        return replace(tracked, meta=replace(tracked.meta, number=number))

    # --- after the commit -------------------------------------------------------------

    async def _publish(self, changes: list[OrderChange]) -> None:
        if isinstance(self._broadcaster, NullBroadcaster) or not changes:
            return
        batch = [projected_event(change) for change in changes]
        try:
            await _within(self._broadcaster.publish(batch), self._publish_timeout)
        except Exception:
            _LOG.exception(
                "broadcaster failed on positions %d..%d; read models are unaffected",
                batch[0].position,
                batch[-1].position,
            )

    # --- failures ---------------------------------------------------------------------

    async def _note_failure(self, failure: ProjectionFailed) -> None:
        self._failures += 1
        self._last_error = str(failure)
        _LOG.error("%s (attempt %d)", failure, self._failures, exc_info=failure.__cause__)
        try:
            async with self._write() as conn, conn.begin():
                await record_error(conn, failure.projections, self._last_error, datetime.now(UTC))
        except Exception:
            _LOG.exception("could not record the projection error on its checkpoint")

    async def _back_off(self) -> None:
        delay = min(self._retry_delay * 2 ** (self._failures - 1), self._max_retry_delay)
        await self._unless_stopped(asyncio.sleep(delay))

    # --- helpers ----------------------------------------------------------------------

    async def _load(self) -> None:
        if self._loaded:
            return
        async with self._engine.connect() as conn:
            stored = await load_checkpoints(conn)
            counters = await load_counters(conn)
        self._checkpoints = {name: stored.get(name, 0) for name in self._names}
        self._numbering = OrderNumbering(counters)
        self._position = min(self._checkpoints.values())
        self._generation = stored.get(GENERATION, 0)
        self._loaded = True

    async def _reload(self) -> None:
        """Rebuilt read models were swapped in: start again from their state."""
        _LOG.info("read models were swapped in (generation %d); reloading", self._generation + 1)
        self._cache.clear()
        self._loaded = False
        await self._load()
        self._wake_waiters()

    def _wake_waiters(self) -> bool:
        """Settle the waiters of every position reached; whether there were any."""
        waiters, position = self._waiters, self._position
        woken = False
        while waiters and waiters[0][0] <= position:
            _settle(heapq.heappop(waiters)[2])
            woken = True
        return woken

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        """A connection whose transactions take the write lock up front (``BEGIN IMMEDIATE``)."""
        async with self._engine.connect() as conn:
            await conn.execution_options(**{WRITE_OPTION: True})
            yield conn

    async def _unless_stopped(self, awaitable: Awaitable[_T]) -> None:
        """Await ``awaitable`` unless ``stop()`` is called first (then cancel it).

        One task, which ``stop()`` cancels (the projector waits like this after every
        batch that reaches the head: no second task on ``_stopping`` and ``asyncio.wait``).
        """
        if self._stopping.is_set():
            if asyncio.iscoroutine(awaitable):
                awaitable.close()
            return
        work = asyncio.ensure_future(awaitable)
        self._pause = work
        try:
            await work
        except asyncio.CancelledError:
            current = asyncio.current_task()
            stopped = self._stopping.is_set() and work.cancelled()
            if not stopped or (current is not None and current.cancelling()):
                raise
        finally:
            self._pause = None
            work.cancel()


async def rebuild(
    store: EventStore,
    engine: AsyncEngine,
    *,
    batch_size: int = 500,
    handlers: Sequence[Projection] | None = None,
    broadcaster: Broadcaster | None = None,
) -> int:
    """Truncate the read models and replay every event (no broadcaster unless given).

    Run it while no projector is running on the same database. Returns the position reached.
    """
    projector = Projector(store, engine, broadcaster, batch_size=batch_size, handlers=handlers)
    await projector.reset()
    return await projector.catch_up()


class _Statements:
    """Stands in for the write connection while the handlers and checkpoint writers run: it
    records each ``execute`` (they only write, and read nothing back), so that the whole
    transaction then runs in one call on the projector's writer thread. It takes the
    handlers' ``PlainSql`` statements (``plain_sqlite``): they run on ``sqlite3`` directly."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.plain_sqlite = dialect.name == "sqlite"
        self.owner: str | None = None
        """The projection whose ``apply`` is running (a failing statement is blamed on it)."""
        self.calls: list[tuple[str | None, Any, Any]] = []

    async def execute(self, statement: Any, parameters: Any = None) -> None:
        self.calls.append((self.owner, statement, parameters))


class _OrderCache:
    """LRU of recent order states (and the view of each as JSON text, for
    ``view_text_of``); trimmed between batches so a batch never loses its own.

    While a batch is folded an entry holds the change that made its state (its view is
    rendered when first asked for); once the batch is committed, ``settle`` keeps only the
    view's text. Everything an entry holds outlives the young collections, so what it holds
    per event is what the collector walks: the change would also keep the event as stored,
    its decoded form, the state before it and the view's dicts (``docs/performance.md``).
    """

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._orders: OrderedDict[str, tuple[TrackedOrder, OrderChange | str | None]] = (
            OrderedDict()
        )

    def get(self, order_id: str) -> TrackedOrder | None:
        entry = self._orders.get(order_id)
        if entry is None:
            return None
        self._orders.move_to_end(order_id)
        return entry[0]

    def view_text(self, order_id: str, version: int, position: int) -> str | None:
        """The view's text of the order at ``version``, if that is its state here and it
        was made at or below ``position`` (committed, hence settled: an entry still
        holding its change belongs to the batch being folded, past ``position``)."""
        entry = self._orders.get(order_id)
        if entry is None:
            return None
        tracked, view = entry
        if tracked.order.version != version or tracked.meta.position > position:
            return None
        return view if isinstance(view, str) else None

    def settle(self, changes: Sequence[OrderChange]) -> None:
        """The batch of ``changes`` is committed: their entries keep the view's text, not
        the change."""
        orders = self._orders
        for change in changes:
            entry = orders.get(change.order_id)
            if entry is not None and entry[1] is change:
                orders[change.order_id] = (entry[0], change.view_text)

    def put(self, tracked: TrackedOrder, change: OrderChange | None = None) -> None:
        self._orders[tracked.order.order_id] = (tracked, change)
        self._orders.move_to_end(tracked.order.order_id)

    def pop(self, order_id: str) -> None:
        self._orders.pop(order_id, None)

    def clear(self) -> None:
        self._orders.clear()

    def trim(self) -> None:
        while len(self._orders) > self._capacity:
            self._orders.popitem(last=False)


def next_meta(
    before: TrackedOrder | None, order: Order, recorded: RecordedEvent, number: int | None
) -> OrderMeta:
    """The order's meta after ``recorded`` (public: Socket.IO resumes refold the same way)."""
    at = occurred_at(recorded)
    position = recorded.position
    if before is None:
        sent_at, sent_position = (at, position) if order.fired_ever else (None, None)
        return OrderMeta(number, at, position, at, position, sent_at, sent_position)
    # built directly: dataclasses.replace costs ~10 us per call, this runs once per event
    meta = before.meta
    if order.fired_ever and meta.sent_at is None:
        return OrderMeta(
            meta.number, meta.created_at, meta.created_position, at, position, at, position
        )
    return OrderMeta(
        meta.number,
        meta.created_at,
        meta.created_position,
        at,
        position,
        meta.sent_at,
        meta.sent_position,
    )


def projected_event(change: OrderChange) -> ProjectedEvent:
    """What the broadcaster gets for ``change`` (public: Socket.IO resumes rebuild it).

    Its facts (the order view above all) are computed when first asked for: a broadcaster
    routes only the events some room listens to. ``change`` is immutable once built (its
    view is rendered from its ``after`` state, the same whenever it is rendered)."""
    return ProjectedEvent.deferred(change.event, functools.partial(_facts, change))


def _facts(change: OrderChange) -> Facts:
    before, after = change.before, change.after
    return (
        change.view,
        before.order.status._value_ if before else None,
        after.order.status._value_ if after else None,
        after is not None and after.order.fired_ever,
        after is not None and after.in_kitchen,
        before is not None and before.in_kitchen,
        _stations(change),
    )


def _stations(change: OrderChange) -> frozenset[str]:
    orders = [t.order for t in (change.after, change.before) if t is not None]
    named = _named_items(change.domain_event)
    if named is None:
        return stations_of(kitchen_items(orders[0])) if orders else frozenset()
    stations = {_station_of(orders, item_id) for item_id in named}
    return frozenset(s for s in stations if s is not None)


def _station_of(orders: list[Order], item_id: str) -> str | None:
    for order in orders:
        for item in order.items:
            if item.item_id == item_id:
                return item.station
    return None


def _named_items(event: Event) -> tuple[str, ...] | None:
    """The item ids an item-level event names; None for order-level events."""
    match event:
        case OrderPlaced(items=specs) | ItemsAdded(items=specs):
            return tuple(spec.item_id for spec in specs)
        case ItemsFired(item_ids=ids) | ItemsHeld(item_ids=ids) | ItemsReleased(item_ids=ids):
            return ids
        case (
            ItemChanged(item_id=item_id)
            | ItemRemoved(item_id=item_id)
            | ItemBumped(item_id=item_id)
            | ItemRecalled(item_id=item_id)
            | ItemVoided(item_id=item_id)
        ):
            return (item_id,)
        case _:
            return None
