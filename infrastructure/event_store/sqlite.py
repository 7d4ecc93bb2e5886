"""The SQLite ``EventStore``: WAL, one writer with group commit, reader connections.

Writes: ``append`` encodes its events and queues them; one writer task takes everything
queued (up to ``max_batch`` appends) and hands the batch to a dedicated thread that owns
the only writer connection (stdlib ``sqlite3``). That thread runs ``BEGIN IMMEDIATE``,
checks and inserts every append under its own SAVEPOINT, and commits once, so one fsync
covers the whole batch and the batch costs one thread hop. Each append succeeds or fails
on its own; callers get their result after COMMIT returns.

Lending: the projector runs its read-model transactions on the same thread and connection
(``run_with_writer_connection``, ``run_on_writer``), between two batches. Once the writer
has been lent, each commit gives the lender the next turn: the writer task lets the loop
run (at most ``_LENDER_TURNS`` times) until a lend is queued, before it queues the next
batch. Otherwise the projector's transaction for a batch waited behind the next batch's
commit and fsync, and the commands of the first (answered once the read models have their
position) waited for two commits.

Reads run on ``aiosqlite`` reader connections (WAL lets them proceed during a commit).
The events this process committed last (at most ``tail_size`` of them) are also kept
decoded in memory, so ``read_all`` right behind the head (the projector) is answered
without a query: the same rows, decoded by the same function, as a read would return.
The tail only ever holds a contiguous run of positions; a commit that does not follow it
(another process wrote in between) starts it again, and it answers only while it ends at
the head this process knows of. A read it answers drops what the reader has read past
(``after_position`` and before): the projector's reads keep it a few commits long, so
the events do not stay alive long enough for the garbage collector to walk them; any
other reader of those positions reads them from the file.

Checkpoints: with ``checkpoint_interval`` set (the server sets it), the writer connection
does not checkpoint the WAL itself (SQLite's automatic checkpoint runs in the committing
connection, every 1,000 pages: several times a second under load, each copying pages back
and fsyncing while every append waits). At most every ``checkpoint_interval`` seconds after
a commit, a checkpointer thread with a connection of its own runs ``PRAGMA
wal_checkpoint(PASSIVE)``, so its copying and fsync overlap the writer's work instead of
stopping it; then a second passive checkpoint on the writer thread, between two of its
transactions, finishes the few pages written meanwhile, so the next write starts the WAL
file over (a checkpoint that only ever runs beside continuous writes never completes, and
the WAL grows without bound).

Waiting: a commit in this process wakes ``wait_for_events`` at once; while someone waits,
``head_position`` is polled every ``poll_interval`` to notice writers in other processes
(the projector, the CLI), which share the file through ``busy_timeout``.

The tables come from the Alembic migrations; opening an unmigrated file raises
``SchemaNotReady``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import math
import os
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal, TypeVar, cast, get_args

import aiosqlite

from domain.ports import (
    AppendResult,
    ConcurrencyConflict,
    EventStoreError,
    ExpectedVersion,
    IdempotencyKey,
    NewEvent,
    RecordedEvent,
    Upcaster,
)
from infrastructure.event_store._common import (
    EncodedEvent,
    RawRow,
    check_expected,
    check_limit,
    decode_rows,
    duplicate_event_id,
    encode_events,
    now_iso,
    replay,
)
from infrastructure.migrations import UPGRADE_HINT, SchemaNotReady

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]

_LOG = logging.getLogger(__name__)

_COLUMNS: Final = (
    "position, stream_id, stream_version, event_id, type, schema_version, data, metadata, "
    "recorded_at"
)
_READ_STREAM: Final = (
    f"SELECT {_COLUMNS} FROM events WHERE stream_id = ? AND stream_version >= ? "
    "ORDER BY stream_version"
)
_READ_ALL: Final = f"SELECT {_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?"
_HEAD: Final = "SELECT coalesce(max(position), 0) FROM events"
_STREAM_VERSION: Final = "SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = ?"
_INSERT_EVENT: Final = f"INSERT INTO events ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
_SELECT_KEY: Final = (
    "SELECT fingerprint, stream_id, stream_version, first_position, last_position "
    "FROM idempotency_keys WHERE key = ?"
)
_INSERT_KEY: Final = (
    "INSERT INTO idempotency_keys (key, fingerprint, stream_id, stream_version, "
    "first_position, last_position, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_TABLES: Final = ("events", "idempotency_keys")
_LENDER_TURNS: Final = 4
"""Loop turns a commit waits for the lender's transaction (the projector's takes 2)."""
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class _Request:
    """One append as the writer thread sees it (no asyncio objects cross the thread)."""

    stream_id: str
    events: list[EncodedEvent]
    expected: ExpectedVersion
    idempotency: IdempotencyKey | None
    originals: Sequence[NewEvent]
    """The events as given (for the tail: their data, metadata and domain events)."""


@dataclass(slots=True)
class _Pending:
    request: _Request
    future: asyncio.Future[AppendResult]


@dataclass(slots=True)
class _Batch:
    """One write transaction. Checks read the database through the writer connection,
    which sees the batch's own uncommitted rows, so later appends see earlier ones."""

    head: int
    recorded_at: str
    rows: list[RawRow]
    """The rows committed by this batch's successful appends, in position order."""
    originals: list[NewEvent]
    """The event each row was written from, row by row."""


_Outcome = AppendResult | Exception


class _Writer:
    """The single writer connection. Every method runs on the writer thread."""

    def __init__(
        self, path: str, synchronous: Synchronous, busy_timeout: float, autocheckpoint: bool
    ) -> None:
        if not os.path.isfile(path):  # connecting would create an empty file
            raise SchemaNotReady(f"there is no database file {path!r}; {UPGRADE_HINT}")
        conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
        try:
            _require_tables(conn, path)
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise RuntimeError(f"cannot put {path!r} in WAL mode (journal_mode={mode})")
            conn.execute(f"PRAGMA synchronous={synchronous}")
            if not autocheckpoint:
                conn.execute("PRAGMA wal_autocheckpoint=0")
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self._synchronous = synchronous
        self.path = os.path.realpath(path)

    def write_batch(self, requests: Sequence[_Request]) -> tuple[list[_Outcome], _Batch]:
        """Apply the appends in one transaction; each outcome, and the batch (new head, rows)."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            batch = _Batch(conn.execute(_HEAD).fetchone()[0], now_iso(), [], [])
            outcomes = [self._apply(batch, request) for request in requests]
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return outcomes, batch

    def lend(self, work: Callable[[sqlite3.Connection], _T], synchronous: Synchronous) -> _T:
        """``work(connection)`` between two batches, its commits at ``synchronous``."""
        conn = self._conn
        other = synchronous != self._synchronous
        if other:
            conn.execute(f"PRAGMA synchronous={synchronous}")
        try:
            return work(conn)
        finally:
            if conn.in_transaction:  # work must end its transactions; never leave one open
                conn.execute("ROLLBACK")
            if other:
                conn.execute(f"PRAGMA synchronous={self._synchronous}")

    def checkpoint(self) -> None:
        """A passive WAL checkpoint on the writer connection (between two transactions)."""
        self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def close(self) -> None:
        self._conn.close()

    def _apply(self, batch: _Batch, request: _Request) -> _Outcome:
        try:
            return self._append(batch, request)
        except (EventStoreError, sqlite3.IntegrityError) as exc:  # this append's own failure
            return exc

    def _append(self, batch: _Batch, request: _Request) -> AppendResult:
        conn, stream_id, key = self._conn, request.stream_id, request.idempotency
        if key is not None:
            seen = self._stored_key(key.key)
            if seen is not None:
                return replay(key, *seen)
        version = cast(int, conn.execute(_STREAM_VERSION, (stream_id,)).fetchone()[0])
        check_expected(stream_id, request.expected, version)
        first = batch.head + 1
        rows: list[RawRow] = [
            (first + i, stream_id, version + 1 + i, *event, batch.recorded_at)
            for i, event in enumerate(request.events)
        ]
        result = AppendResult(stream_id, version + len(rows), first, first + len(rows) - 1)
        # The savepoint undoes this append alone if the database refuses it.
        conn.execute("SAVEPOINT append")
        try:
            conn.executemany(_INSERT_EVENT, rows)
            if key is not None:
                conn.execute(_INSERT_KEY, _key_row(key, result, batch.recorded_at))
        except sqlite3.IntegrityError as exc:
            conn.execute("ROLLBACK TO append")
            conn.execute("RELEASE append")
            raise self._refused(exc, request) from exc
        conn.execute("RELEASE append")
        batch.head = result.last_position
        batch.rows.extend(rows)
        batch.originals.extend(request.originals)
        return result

    def _stored_key(self, key: str) -> tuple[str, AppendResult] | None:
        row = self._conn.execute(_SELECT_KEY, (key,)).fetchone()
        if row is None:
            return None
        fingerprint, stream_id, version, first, last = row
        return fingerprint, AppendResult(stream_id, version, first, last)

    def _refused(self, exc: sqlite3.IntegrityError, request: _Request) -> Exception:
        """Map a constraint failure to the port's error (the checks above make it rare)."""
        message = str(exc)
        if "events.stream_id" in message:
            actual = self._conn.execute(_STREAM_VERSION, (request.stream_id,)).fetchone()[0]
            return ConcurrencyConflict(request.stream_id, request.expected, actual)
        if "events.event_id" in message:
            ids = [event[0] for event in request.events]
            marks = ", ".join("?" * len(ids))
            row = self._conn.execute(
                f"SELECT event_id FROM events WHERE event_id IN ({marks}) LIMIT 1", ids
            ).fetchone()
            return duplicate_event_id(row[0] if row else ids[0])
        return exc


def _key_row(key: IdempotencyKey, result: AppendResult, created_at: str) -> tuple[object, ...]:
    return (
        key.key,
        key.fingerprint,
        result.stream_id,
        result.stream_version,
        result.first_position,
        result.last_position,
        created_at,
    )


def _require_tables(conn: sqlite3.Connection, path: str) -> None:
    marks = ", ".join("?" * len(_TABLES))
    found = conn.execute(
        f"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ({marks})", _TABLES
    ).fetchone()[0]
    if found != len(_TABLES):
        raise SchemaNotReady(
            f"the database file {path!r} has no event store tables; {UPGRADE_HINT}"
        )


class _Checkpointer:
    """Checkpoints the WAL every ``interval`` seconds after a commit (see the module doc):
    first from a thread and connection of its own, overlapping the writer's work, then on
    the writer thread between two of its transactions, which finishes the little left with
    no write in progress, so that the next write starts the WAL file over."""

    def __init__(
        self,
        path: str,
        busy_timeout: float,
        interval: float,
        finish: Callable[[], Awaitable[object]],
    ) -> None:
        self._path = path
        self._busy_timeout = busy_timeout
        self._interval = interval
        self._finish = finish  # the checkpoint on the writer thread
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="event-store-checkpointer")
        self._conn: sqlite3.Connection | None = None
        self._dirty = asyncio.Event()
        self._task = asyncio.create_task(self._loop(), name="event-store-checkpointer")

    def committed(self) -> None:
        self._dirty.set()

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._dirty.wait()
            await asyncio.sleep(self._interval)
            self._dirty.clear()
            try:
                await loop.run_in_executor(self._executor, self._checkpoint)
                await self._finish()
            except Exception as exc:  # a busy or failing checkpoint is retried next time
                _LOG.warning("WAL checkpoint failed: %r", exc)

    def _checkpoint(self) -> None:
        if self._conn is None:
            self._conn = sqlite3.connect(
                self._path, timeout=self._busy_timeout, isolation_level=None
            )
        self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _close_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close_connection)
        self._executor.shutdown(wait=False)


class _WriterThread:
    """The writer connection's thread: runs calls one at a time, in order, and hands each
    result back to the event loop that asked.

    What ``loop.run_in_executor`` on a one-thread pool does, with less work per call (it
    runs twice per batch: the store's commit and the projector's transaction): no
    ``concurrent.futures.Future`` (its condition variable and callbacks) chained to the
    asyncio future, one ``call_soon_threadsafe`` per result. A call whose caller was
    cancelled before the thread took it is skipped, as the pool would.
    """

    def __init__(self, name: str) -> None:
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def call(self, fn: Callable[..., _T], *args: Any) -> asyncio.Future[_T]:
        """Queue ``fn(*args)``; the future of its result (resolved on the calling loop)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_T] = loop.create_future()
        self._calls.put((loop, future, fn, args))
        return future

    def shutdown(self) -> None:
        """Let the thread end once it has run what is queued."""
        self._calls.put(None)

    def _serve(self) -> None:
        calls = self._calls
        while (call := calls.get()) is not None:
            loop, future, fn, args = call
            if future.cancelled():  # a plain read; at worst the call runs for no one
                continue
            try:
                _resolve_soon(loop, future, fn(*args), None)
            except BaseException as exc:
                _resolve_soon(loop, future, None, exc)
            del call, loop, future, fn, args  # nothing of it kept while idle


_Call = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]]


def _resolve_soon(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Any],
    result: Any,
    error: BaseException | None,
) -> None:
    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is left to tell
        loop.call_soon_threadsafe(_resolve, future, result, error)


def _resolve(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class SqliteEventStore:
    """An ``EventStore`` on an SQLite file; create it with ``await SqliteEventStore.open(...)``."""

    def __init__(
        self,
        *,
        path: Path,
        executor: _WriterThread,
        writer: _Writer,
        readers: list[aiosqlite.Connection],
        head: int,
        upcaster: Upcaster | None,
        poll_interval: float,
        max_batch: int,
        tail_size: int = 4096,
    ) -> None:
        self.path = path
        """The database file (resolved)."""
        self._executor = executor
        self._checkpointer: _Checkpointer | None = None
        self._writer = writer
        self._readers = readers
        self._idle: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        for reader in readers:
            self._idle.put_nowait(reader)
        self._head = head
        self._looked = -math.inf
        """When this process last read the file's head (``time.monotonic()``, taken before
        the read began)."""
        self._upcaster = upcaster
        self._poll_interval = poll_interval
        self._max_batch = max_batch
        self._tail: deque[RecordedEvent] = deque(maxlen=tail_size)
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        # Replaced after every advance of the head: waiters hold the one that gets set.
        self._advanced = asyncio.Event()
        self._waiters = 0
        self._someone_waits = asyncio.Event()
        self._closed = False
        self._lends = 0
        """Times the writer was lent (``run_on_writer``, ``run_with_writer_connection``)."""
        self._write_task = asyncio.create_task(self._write_loop(), name="event-store-writer")
        self._poll_task = asyncio.create_task(self._poll_loop(), name="event-store-poller")

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        synchronous: Synchronous = "FULL",
        upcaster: Upcaster | None = None,
        poll_interval: float = 0.5,
        busy_timeout: float = 5.0,
        readers: int = 2,
        max_batch: int = 256,
        tail_size: int = 4096,
        checkpoint_interval: float | None = None,
    ) -> SqliteEventStore:
        """Open a migrated database file.

        ``synchronous`` is SQLite's durability setting: FULL (the default) fsyncs the WAL
        at every commit, NORMAL only at checkpoints (a power cut may lose the last
        commits, never corrupt). ``busy_timeout`` is how long to wait for another
        process's write lock, in seconds. ``tail_size``: at most how many of the events
        this process committed last ``read_all`` answers from memory (those no read from
        memory has passed yet). ``checkpoint_interval``
        (seconds): checkpoint the WAL from a thread of its own at most this often instead
        of in the writer's commits (None: SQLite's automatic checkpoints).
        """
        sync = cast(Synchronous, str(synchronous).upper())
        if sync not in get_args(Synchronous):
            raise ValueError(f"synchronous must be one of {get_args(Synchronous)}: {synchronous!r}")
        if readers < 1 or max_batch < 1 or tail_size < 1 or poll_interval <= 0:
            raise ValueError("readers, max_batch and tail_size must be >= 1 and poll_interval > 0")
        if checkpoint_interval is not None and checkpoint_interval <= 0:
            raise ValueError(f"checkpoint_interval must be > 0: {checkpoint_interval}")
        background = checkpoint_interval is not None
        file = Path(path)
        executor = _WriterThread("event-store-writer")
        connections: list[aiosqlite.Connection] = []
        try:
            writer = await executor.call(_Writer, str(file), sync, busy_timeout, not background)
            try:
                for _ in range(readers):
                    connections.append(await _open_reader(file, busy_timeout))
                rows = list(await connections[0].execute_fetchall(_HEAD, ()))
            except BaseException:
                await executor.call(writer.close)
                raise
        except BaseException:
            for connection in connections:
                await connection.close()
            executor.shutdown()
            raise
        store = cls(
            path=Path(writer.path),
            executor=executor,
            writer=writer,
            readers=connections,
            head=cast(int, rows[0][0]),
            upcaster=upcaster,
            poll_interval=poll_interval,
            max_batch=max_batch,
            tail_size=tail_size,
        )
        if checkpoint_interval is not None:
            store._checkpointer = _Checkpointer(
                str(file),
                busy_timeout,
                checkpoint_interval,
                functools.partial(executor.call, writer.checkpoint),
            )
        return store

    @property
    def checkpoints_in_background(self) -> bool:
        """Whether this store checkpoints the WAL itself: other writers on the file should
        then not (``PRAGMA wal_autocheckpoint=0``)."""
        return self._checkpointer is not None

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion,
        *,
        idempotency: IdempotencyKey | None = None,
    ) -> AppendResult:
        self._check_open()
        if self._write_task.done():
            raise RuntimeError("the event store's writer has stopped")
        encoded = encode_events(events, expected_version)
        request = _Request(stream_id, encoded, expected_version, idempotency, events)
        future: asyncio.Future[AppendResult] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(request, future))
        # A caller cancelled before its batch starts is dropped; once the batch is on the
        # writer thread the append commits whether or not anyone still waits for it.
        return await future

    async def run_on_writer(self, work: Callable[[], _T]) -> _T:
        """Run ``work`` on the writer thread, between two write batches of this store.

        For the projector's read-model transactions on the same file: run here, they never
        overlap this store's own commits, so neither side waits on SQLite's busy handler
        (which sleeps 1, 2, 5, 10… ms between attempts).
        """
        return await self._lend(work)

    async def run_with_writer_connection(
        self, work: Callable[[sqlite3.Connection], _T], *, synchronous: Synchronous
    ) -> _T:
        """Run ``work(connection)`` on the writer thread with this store's own connection,
        between two write batches, its commits at ``synchronous`` (the store's own setting
        is restored after; ``work`` must end every transaction it begins).

        For the projector's read-model transactions on the same file. Sharing the one
        connection keeps its page cache: SQLite empties a connection's whole cache when it
        finds the file changed by another connection, so two writer connections taking
        turns re-read every page they touch (~40 ``pread`` calls per command).
        """
        return await self._lend(self._writer.lend, work, synchronous)

    async def _lend(self, fn: Callable[..., _T], *args: Any) -> _T:
        """``fn(*args)`` on the writer thread between two batches: counted as a lend (for
        ``_lender_first``), and a commit for the checkpointer."""
        self._check_open()
        self._lends += 1
        result: _T = await self._executor.call(fn, *args)
        if self._checkpointer is not None:
            self._checkpointer.committed()
        return result

    async def find_idempotent(self, key: IdempotencyKey) -> AppendResult | None:
        rows = await self._fetch(_SELECT_KEY, (key.key,))
        if not rows:
            return None
        fingerprint, stream_id, version, first, last = rows[0]
        return replay(key, fingerprint, AppendResult(stream_id, version, first, last))

    async def read_stream(self, stream_id: str, from_version: int = 1) -> list[RecordedEvent]:
        rows = await self._fetch(_READ_STREAM, (stream_id, from_version))
        return decode_rows(cast(list[RawRow], rows), self._upcaster)

    async def read_all(self, after_position: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        check_limit(limit)
        tail = self._tail
        # From memory only while the tail ends at the head this process knows: a short
        # page must mean "nothing more yet", as it does from the file.
        if tail and tail[0].position <= after_position + 1 <= tail[-1].position == self._head:
            # What the reader has read past leaves the tail: the projector reads right
            # behind the head, and events kept for seconds would be walked by the young
            # and middle collections (their data, metadata and domain events: ~8 objects
            # each). Any other reader of those positions reads them from the file.
            while tail[0].position <= after_position:
                tail.popleft()
            behind = tail[-1].position - after_position
            if behind <= limit:  # the common case, right behind the head: walk from the end
                page = list(itertools.islice(reversed(tail), behind))
                page.reverse()
                return page
            start = after_position + 1 - tail[0].position
            return list(itertools.islice(tail, start, start + limit))
        rows = await self._fetch(_READ_ALL, (after_position, limit))
        return decode_rows(cast(list[RawRow], rows), self._upcaster)

    async def head_position(self) -> int:
        looked = time.monotonic()
        head = cast(int, (await self._fetch(_HEAD, ()))[0][0])
        self._looked = max(self._looked, looked)
        self._advance(head)
        return head

    async def wait_for_events(self, after_position: int, timeout: float | None) -> int:
        if self._head > after_position:
            return self._head
        # Another process may have written since this one last read the file's head (a
        # query, or its own last commit, which reads it under the write lock): look once
        # before waiting, unless that was under a poll interval ago. While anyone waits,
        # the poller looks every interval anyway, so another process's write is noticed
        # within one interval either way; the projector, which waits again after every
        # batch, skips a reader round trip per batch while this process writes.
        recent = time.monotonic() - self._looked < self._poll_interval
        if not recent and await self.head_position() > after_position:
            return self._head
        self._waiters += 1
        self._someone_waits.set()
        try:
            if timeout is None:  # the projector's wait: no timeout to arm
                while self._head <= after_position and not self._closed:
                    await self._advanced.wait()
            else:
                async with asyncio.timeout(timeout):
                    while self._head <= after_position and not self._closed:
                        await self._advanced.wait()
        except TimeoutError:
            pass
        finally:
            self._waiters -= 1
            if not self._waiters:
                self._someone_waits.clear()
        if self._head > after_position or self._closed:
            return self._head
        return await self.head_position()

    async def close(self) -> None:
        """Finish the appends already queued, then close every connection."""
        if self._closed:
            return
        self._closed = True
        self._wake_waiters()
        self._queue.put_nowait(None)
        await self._write_task
        self._poll_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._poll_task
        if self._checkpointer is not None:
            await self._checkpointer.close()
        await self._executor.call(self._writer.close)
        self._executor.shutdown()
        for reader in self._readers:
            await reader.close()

    async def __aenter__(self) -> SqliteEventStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ------------------------------------------------------------------ writer side

    async def _write_loop(self) -> None:
        stopping = False
        while not stopping:
            item = await self._queue.get()
            batch: list[_Pending] = []
            while True:
                if item is None:
                    stopping = True
                    break
                if not item.future.cancelled():
                    batch.append(item)
                if len(batch) >= self._max_batch or self._queue.empty():
                    break
                item = self._queue.get_nowait()
            if batch:
                await self._commit(batch)
                await self._lender_first()

    async def _lender_first(self) -> None:
        """After a commit, let a lender (the projector) queue its transaction first.

        Its transaction for the batch just committed then runs before the next batch, not
        after that batch's commit and fsync. Only once the writer has been lent; at most
        ``_LENDER_TURNS`` loop turns, none if nothing more is queued to write."""
        if not self._lends or self._queue.empty():
            return
        lends = self._lends
        for _ in range(_LENDER_TURNS):
            await asyncio.sleep(0)
            if self._lends != lends:
                return

    async def _commit(self, batch: list[_Pending]) -> None:
        requests = [pending.request for pending in batch]
        looked = time.monotonic()
        try:
            outcomes, done = await self._executor.call(self._writer.write_batch, requests)
        except Exception as exc:  # the whole transaction failed: every append in it did
            _LOG.warning("event store write batch of %d failed: %r", len(batch), exc)
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(exc)
            return
        except BaseException:
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(RuntimeError("the event store writer stopped"))
            raise
        for pending, outcome in zip(batch, outcomes, strict=True):
            if pending.future.done():
                continue
            if isinstance(outcome, AppendResult):
                pending.future.set_result(outcome)
            else:
                pending.future.set_exception(outcome)
        self._looked = max(self._looked, looked)  # the batch read the head after this
        self._remember(done)
        self._advance(done.head)
        if self._checkpointer is not None:
            self._checkpointer.committed()

    # ------------------------------------------------------------------ readers, waiting

    async def _fetch(self, sql: str, parameters: tuple[Any, ...]) -> list[Any]:
        self._check_open()
        reader = await self._idle.get()
        try:
            return cast(list[Any], await reader.execute_fetchall(sql, parameters))
        finally:
            self._idle.put_nowait(reader)

    def _remember(self, batch: _Batch) -> None:
        """Add a batch's committed rows to the tail (or start it again at a gap).

        Built from the appended events themselves rather than by decoding the rows: the
        same values (the data and metadata the rows were serialised from just now, upcast
        as a read would), plus each one's domain event (``RecordedEvent.decoded``).
        """
        rows = batch.rows
        if not rows:
            return
        tail = self._tail
        if tail and tail[-1].position + 1 != rows[0][0]:
            tail.clear()
        at = datetime.fromisoformat(batch.recorded_at)
        upcaster = self._upcaster
        event = RecordedEvent
        for (pos, sid, ver, eid, typ, sv, _, _, _), new in zip(rows, batch.originals, strict=True):
            data = new.data
            if upcaster is not None:
                sv, data = upcaster(typ, sv, data)
            tail.append(event(pos, sid, ver, eid, typ, sv, data, new.metadata, at, new.source))

    def _advance(self, head: int) -> None:
        if head > self._head:
            self._head = head
            self._wake_waiters()

    def _wake_waiters(self) -> None:
        self._advanced.set()
        self._advanced = asyncio.Event()

    async def _poll_loop(self) -> None:
        # Only other processes' commits need polling, and only while someone waits.
        while True:
            await self._someone_waits.wait()
            await asyncio.sleep(self._poll_interval)
            if not self._waiters:
                continue
            try:
                await self.head_position()
            except Exception as exc:  # a locked or busy file must not kill the poller
                _LOG.warning("event store poll failed: %r", exc)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the event store is closed")


async def _open_reader(path: Path, busy_timeout: float) -> aiosqlite.Connection:
    connection = await aiosqlite.connect(path, timeout=busy_timeout, isolation_level=None)
    try:
        await connection.execute_fetchall("PRAGMA query_only=ON", ())
    except BaseException:
        await connection.close()
        raise
    return connection
