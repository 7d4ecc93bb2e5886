"""Rebuilding read models from the events: online (shadow tables, atomic swap) or in place.

Online (``rebuild_online``), while the server keeps serving reads and commands:

1. Create empty shadow tables ``_shadow_<table>`` from the live tables' own ``CREATE
   TABLE`` statements, without secondary indexes (they only slow the writes down).
2. Replay into them with ``BulkProjector`` (``infrastructure.replay.bulk``: the domain's
   fold, the projector's rows, each order's final rows written once per batch) up to the
   target, again while that moves. The target is the live checkpoint while a projector is
   running (it wrote a checkpoint in the last ``ALIVE`` seconds: a running one writes at
   every batch and every retry), else the head. The shadow never gets past the target.
3. Swap, in ONE write transaction (``BEGIN IMMEDIATE``: no append and no live projection
   meanwhile), on an engine that renames every live table its statements name to the
   shadow one (``shadow_engine``) unless told not to: read the target again, project the
   remaining tail up to it (``BulkProjector.project_on``), drop the live tables' indexes,
   rename live to ``_retired_<table>`` and shadow to live, create the indexes again under
   their names, set the rebuilt projections' checkpoints (last error cleared) and bump the
   generation row. The swapped-in tables hold exactly the position the live ones held, so
   the live projector continues from it: no event is lost, applied twice or broadcast
   twice. Its next write transaction sees the new generation: it drops the batch it was
   about to write and reloads checkpoints, numbering counters and order cache from the new
   tables.
4. Drop the retired tables and the shadow leftovers (short transactions of their own).

Interrupted (Ctrl-C, an error) before the swap commits, the live tables are untouched and
the shadow tables are dropped. A rebuild killed outright leaves shadow tables behind; the
next one drops them once their heartbeat (the shadow checkpoints) is a minute old.

In place (``rebuild_in_place``, offline): truncate the live tables (the projector's own
``reset``) and replay into them with ``BulkProjector``, then bump the generation.
Interrupted, the read models are consistent up to the last batch committed (their
checkpoint says so) and the server's projector continues from there.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from sqlalchemy import event
from sqlalchemy.engine import Connection, ExecutionContext
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from infrastructure.projector import ORDER_NUMBERS, ProjectionFailed, Projector
from infrastructure.read_models.engine import WRITE_OPTION, create_engine
from infrastructure.read_models.handlers import (
    GENERATION,
    KitchenProjection,
    OrderViewsProjection,
    Projection,
    default_projections,
    record_error,
)
from infrastructure.read_models.tables import (
    KITCHEN_TICKET_ITEMS,
    KITCHEN_TICKETS,
    ORDER_NUMBER_COUNTERS,
    ORDER_VIEWS,
    PROJECTION_CHECKPOINTS,
    READ_MODEL_TABLES,
)
from infrastructure.read_models.tables import ORDER_NUMBERS as ORDER_NUMBERS_TABLE
from infrastructure.replay.bulk import BulkProjector
from infrastructure.replay.progress import NO_PROGRESS, Progress
from infrastructure.replay.source import EventLog, ReplaySource, connect, database_file
from infrastructure.replay.tuning import CACHE_KIB, SECURE_DELETE, fewer_collections

SHADOW: Final = "_shadow_"
RETIRED: Final = "_retired_"
REBUILD_BATCH: Final = 5_000
"""Events per projector batch in a rebuild (the live projector uses 500)."""
ALIVE: Final = timedelta(seconds=30)
"""A projector that wrote a checkpoint this recently is taken to be running."""
BEHIND_TIMEOUT: Final = 60.0
"""Seconds to wait for a live projector behind the shadow before giving up."""
STALE_AFTER: Final = timedelta(seconds=60)
"""Shadow tables whose checkpoints are older than this belong to a rebuild that died."""

TABLES: Final[dict[str, tuple[str, ...]]] = {
    OrderViewsProjection.name: (ORDER_VIEWS.name,),
    KitchenProjection.name: (KITCHEN_TICKETS.name, KITCHEN_TICKET_ITEMS.name),
}
"""The tables each rebuildable projection owns."""
NUMBERING: Final = (ORDER_NUMBERS_TABLE.name, ORDER_NUMBER_COUNTERS.name)
"""The order numbering's tables: rebuilt with every projection, swapped with order_views."""

LIVE_NAMES: Final = "replay_live_names"
"""Execution option: a statement of the shadow engine that names the live tables."""

_CHECKPOINTS = PROJECTION_CHECKPOINTS.name
_UPSERT_CHECKPOINT: Final = (
    f"INSERT INTO {_CHECKPOINTS} (name, position, updated_at, last_error) VALUES (?, ?, ?, NULL) "
    "ON CONFLICT (name) DO UPDATE SET position = excluded.position, "
    "updated_at = excluded.updated_at, last_error = NULL"
)


class UnknownProjection(ValueError):
    """A projection name the rebuild does not know."""


class RebuildInProgress(RuntimeError):
    """Another rebuild is writing shadow tables in this database."""


class RebuildFailed(RuntimeError):
    """The rebuild stopped; the live read models are as they were."""


class _Behind(Exception):
    """At the swap, the live projector turned out to be behind the shadow."""


@dataclass(frozen=True, slots=True)
class RebuildResult:
    projections: tuple[str, ...]
    position: int
    """The checkpoint the rebuilt read models were given: the live projector's position, or
    the head when no projector was running."""
    head: int
    """The store's head when the rebuild finished."""
    events: int
    """Events replayed."""
    seconds: float
    swap_seconds: float | None
    """How long the swap held the write lock (None for an in-place rebuild)."""
    generation: int


def projection_names(names: Iterable[str] = ()) -> tuple[str, ...]:
    """The projections to rebuild, in their projector order (every one when ``names`` is empty)."""
    wanted = set(names)
    unknown = wanted - set(TABLES)
    if unknown:
        raise UnknownProjection(
            f"unknown projection(s) {', '.join(sorted(unknown))}; known: {', '.join(TABLES)}"
        )
    return tuple(name for name in TABLES if not wanted or name in wanted)


# --- online ---------------------------------------------------------------------------------


async def rebuild_online(
    url: str,
    names: Iterable[str] = (),
    *,
    batch_size: int = REBUILD_BATCH,
    progress: Progress = NO_PROGRESS,
) -> RebuildResult:
    """Rebuild ``names`` (default: all) into shadow tables and swap them in atomically."""
    plan = _Plan(projection_names(names))
    path = database_file(url)
    started = time.perf_counter()
    await _create_shadow_or_undo(path, plan)
    try:
        with EventLog(path) as log:
            engine = shadow_engine(url, (table.name for table in READ_MODEL_TABLES))
            try:
                rebuild = _OnlineRebuild(plan, log, engine, batch_size, progress)
                with fewer_collections():
                    return await rebuild.run(started)
            finally:
                await engine.dispose()
    finally:
        await asyncio.to_thread(_drop_tables, path, (SHADOW, RETIRED))


@dataclass(frozen=True, slots=True)
class _Plan:
    projections: tuple[str, ...]

    @property
    def numbering(self) -> bool:
        """Whether the order numbering (counters and checkpoint) is swapped too."""
        return OrderViewsProjection.name in self.projections

    @property
    def tables(self) -> tuple[str, ...]:
        """The live tables the swap replaces."""
        owned = tuple(table for name in self.projections for table in TABLES[name])
        return (*owned, *NUMBERING) if self.numbering else owned

    @property
    def checkpoints(self) -> tuple[str, ...]:
        return (*self.projections, ORDER_NUMBERS) if self.numbering else self.projections

    def handlers(self) -> tuple[Projection, ...]:
        return tuple(h for h in default_projections() if h.name in self.projections)


class _OnlineRebuild:
    def __init__(
        self,
        plan: _Plan,
        log: EventLog,
        engine: AsyncEngine,
        batch_size: int,
        progress: Progress,
    ) -> None:
        self._plan = plan
        self._log = log
        self._engine = engine
        self._batch_size = batch_size
        self._task = progress.task(f"rebuilding {', '.join(plan.projections)}")
        self._events = 0
        self._projector = BulkProjector(
            log,
            log.path,
            plan.projections,
            batch_size=batch_size,
            prefix=SHADOW,
            until=0,
            on_read=self._read,
        )

    def _read(self, events: int) -> None:
        self._events += events
        self._task.advance(events)

    async def run(self, started: float) -> RebuildResult:
        behind_since: float | None = None
        while True:
            target = self._live_target()
            if target < self._projector.position:
                # A projector (a server just started) is behind the shadow: let it pass.
                behind_since = behind_since or time.monotonic()
                if time.monotonic() - behind_since > BEHIND_TIMEOUT:
                    raise RebuildFailed(
                        f"the live projector stays at position {target}, behind the "
                        f"rebuild's {self._projector.position}: is it stuck? (projections status)"
                    )
                await self._heartbeat()
                await asyncio.sleep(0.1)
                continue
            behind_since = None
            self._projector.until = target
            self._task.total(target)
            await self._projector.catch_up()
            if self._live_target() - self._projector.position > self._batch_size:
                continue  # more than one batch left: not under the lock
            locked = time.perf_counter()
            swapped = await self._try_swap()
            if swapped is not None:
                break
        position, generation = swapped
        swap_seconds = time.perf_counter() - locked
        return RebuildResult(
            projections=self._plan.projections,
            position=position,
            head=self._log.head(),
            events=self._events,
            seconds=time.perf_counter() - started,
            swap_seconds=swap_seconds,
            generation=generation,
        )

    async def _heartbeat(self) -> None:
        """Tell other rebuilds this one is alive (they go by the shadow checkpoints' times)."""
        async with self._engine.connect() as conn, conn.begin():
            await conn.exec_driver_sql(f"UPDATE {_CHECKPOINTS} SET updated_at = ?", (_now(),))

    def _live_target(self) -> int:
        rows = self._log.conn.execute(_SELECT_CHECKPOINTS).fetchall()
        return _target(rows, self._log.head(), self._plan)

    async def _try_swap(self) -> tuple[int, int] | None:
        """Swap in one write transaction; None if a live projector is behind the shadow."""
        try:
            async with self._engine.connect() as conn:
                await conn.execution_options(**{WRITE_OPTION: True})
                async with conn.begin():
                    return await self._swap(conn)
        except _Behind:
            return None

    async def _swap(self, conn: AsyncConnection) -> tuple[int, int]:
        """Inside the write transaction: the tail, the renames, the checkpoints, the generation."""
        rows = (await _live(conn, _SELECT_CHECKPOINTS)).all()
        head = (await _live(conn, "SELECT coalesce(max(position), 0) FROM events")).scalar()
        target = _target(rows, head, self._plan)
        if target < self._projector.position:
            raise _Behind  # before projecting anything: the transaction is rolled back
        if await self._projector.project_on(conn, target) < target:
            raise RebuildFailed(f"the events up to the live checkpoint {target} are missing")
        for table in self._plan.tables:
            await _replace(conn, table)
        now = _now()
        for name in self._plan.checkpoints:
            await _live(conn, _UPSERT_CHECKPOINT, (name, target, now))
        return target, await bump_generation(conn)


def shadow_engine(url: str, tables: Iterable[str]) -> AsyncEngine:
    """An engine (as ``read_models.create_engine``) whose statements use the shadow tables.

    Every name in ``tables`` becomes ``_shadow_<name>`` in each statement it executes, except
    in statements executed with the ``LIVE_NAMES`` execution option (a name already
    ``_shadow_<name>``, as ``BulkProjector(prefix=SHADOW)`` writes them, is left alone: no
    word boundary inside it). Statements written for the live tables run on it unchanged.
    """
    names = {table: SHADOW + table for table in tables}
    alternatives = "|".join(re.escape(t) for t in sorted(names, key=len, reverse=True))
    pattern = re.compile(rf"\b({alternatives})\b")
    engine = rebuild_engine(url)

    @event.listens_for(engine.sync_engine, "before_cursor_execute", retval=True)
    def _to_shadow(
        conn: Connection,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: ExecutionContext | None,
        executemany: bool,
    ) -> tuple[str, Any]:
        if context is not None and context.execution_options.get(LIVE_NAMES):
            return statement, parameters
        return pattern.sub(lambda match: names[match.group(1)], statement), parameters

    return engine


def rebuild_engine(url: str) -> AsyncEngine:
    """``read_models.create_engine`` with a large page cache and in-memory sorting (the swap
    builds indexes while it holds the write lock), and no zeroing of deleted rows at a cost
    (``tuning.SECURE_DELETE``: the reset and the drop of swapped-out tables)."""
    engine = create_engine(url, busy_timeout_ms=10_000)

    @event.listens_for(engine.sync_engine, "connect")
    def _tune(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        cursor.execute("PRAGMA temp_store = MEMORY")
        cursor.execute(SECURE_DELETE)
        cursor.close()

    return engine


async def _live(conn: AsyncConnection, sql: str, parameters: tuple[Any, ...] = ()) -> Any:
    """Execute ``sql`` on the live tables (not renamed by the shadow engine)."""
    return await conn.exec_driver_sql(sql, parameters, execution_options={LIVE_NAMES: True})


async def _replace(conn: AsyncConnection, table: str) -> None:
    """Put ``_shadow_<table>`` in the place of ``table``, with ``table``'s indexes."""
    indexes = (
        await _live(
            conn,
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
            "AND sql IS NOT NULL",
            (table,),
        )
    ).all()
    for name, _ in indexes:
        await _live(conn, f'DROP INDEX "{name}"')
    await _live(conn, f'ALTER TABLE "{table}" RENAME TO "{RETIRED}{table}"')
    await _live(conn, f'ALTER TABLE "{SHADOW}{table}" RENAME TO "{table}"')
    for _, sql in indexes:
        await _live(conn, sql)


async def bump_generation(conn: AsyncConnection) -> int:
    """Add one to the generation row (in the caller's write transaction); the new value."""
    current = (
        await _live(conn, f"SELECT position FROM {_CHECKPOINTS} WHERE name = ?", (GENERATION,))
    ).scalar()
    generation = int(current or 0) + 1
    await _live(conn, _UPSERT_CHECKPOINT, (GENERATION, generation, _now()))
    return generation


_SELECT_CHECKPOINTS: Final = f"SELECT name, position, updated_at FROM {_CHECKPOINTS}"


def _target(rows: Sequence[Sequence[Any]], head: int, plan: _Plan) -> int:
    """Where the swapped-in tables must stand: the live checkpoint of the projections
    rebuilt if a projector is running, else the head."""
    mine = [
        (position, updated_at) for name, position, updated_at in rows if name in plan.checkpoints
    ]
    live = max((position for position, _ in mine), default=0)
    last = max((datetime.fromisoformat(at) for _, at in mine if at), default=None)
    running = last is not None and last > _naive_now() - ALIVE
    return live if running or live >= head else head


def _now() -> str:
    # The text SQLAlchemy's SQLite DateTime stores, so the projector reads it back.
    return datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


# --- shadow and retired tables --------------------------------------------------------------


async def _create_shadow_or_undo(path: Path, plan: _Plan) -> None:
    """``_create_shadow`` in a thread (writes that may wait for the write lock: the event
    loop stays free). Interrupted meanwhile (Ctrl-C cancels the task), the thread cannot be
    stopped: it is left to finish, and what it made is dropped before the interruption goes
    on, unless it made nothing (another rebuild's tables are not ours to drop)."""
    creating = asyncio.ensure_future(asyncio.to_thread(_create_shadow, path, plan))
    try:
        await asyncio.shield(creating)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await creating
            await asyncio.to_thread(_drop_tables, path, (SHADOW, RETIRED))
        raise


def _create_shadow(path: Path, plan: _Plan) -> None:
    """Empty shadow tables for every read-model table, with a fresh heartbeat."""
    conn = connect(path, write=True)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            _clear_leftovers(conn)
            for table in READ_MODEL_TABLES:
                conn.execute(create_table_sql(conn, table.name, SHADOW + table.name))
            names = [h.name for h in plan.handlers()] + [ORDER_NUMBERS]
            conn.executemany(
                f'INSERT INTO "{SHADOW}{_CHECKPOINTS}" (name, position, updated_at) '
                "VALUES (?, 0, ?)",
                [(name, _now()) for name in names],
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.close()


def _clear_leftovers(conn: sqlite3.Connection) -> None:
    heartbeat = f"{SHADOW}{_CHECKPOINTS}"
    if _tables_named(conn, (SHADOW,)):
        beat = None
        if heartbeat in _tables_named(conn, (SHADOW,)):
            beat = conn.execute(f'SELECT max(updated_at) FROM "{heartbeat}"').fetchone()[0]
        if beat is not None and datetime.fromisoformat(beat) > _naive_now() - STALE_AFTER:
            raise RebuildInProgress(
                "another rebuild is writing shadow tables in this database (its last batch "
                f"was at {beat} UTC); wait for it, or stop it"
            )
    for table in _tables_named(conn, (SHADOW, RETIRED)):
        conn.execute(f'DROP TABLE "{table}"')


def _naive_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def create_table_sql(conn: sqlite3.Connection, table: str, name: str) -> str:
    """``table``'s own ``CREATE TABLE`` statement (as migrated), for a table called ``name``."""
    row = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).fetchone()
    if row is None:
        raise RebuildFailed(f"there is no table {table!r}: is the database migrated?")
    ddl, count = re.subn(
        rf'^\s*CREATE\s+TABLE\s+"?{re.escape(table)}"?', f'CREATE TABLE "{name}"', row[0]
    )
    if count != 1:
        raise RebuildFailed(f"cannot read the definition of table {table!r}: {row[0]!r}")
    return ddl


def _tables_named(conn: sqlite3.Connection, prefixes: Sequence[str]) -> list[str]:
    names = [
        name
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if any(name.startswith(prefix) for prefix in prefixes)
    ]
    return sorted(names)


def _drop_tables(path: Path, prefixes: Sequence[str]) -> None:
    """Drop the shadow/retired tables, one short write transaction each."""
    conn = connect(path, write=True)
    try:
        for table in _tables_named(conn, prefixes):
            conn.execute(f'DROP TABLE IF EXISTS "{table}"')
    finally:
        conn.close()


# --- in place -------------------------------------------------------------------------------


async def rebuild_in_place(
    url: str,
    names: Iterable[str] = (),
    *,
    batch_size: int = REBUILD_BATCH,
    progress: Progress = NO_PROGRESS,
) -> RebuildResult:
    """Truncate ``names`` (default: all) and replay them from position 0; for a stopped server."""
    projections = projection_names(names)
    path = database_file(url)
    started = time.perf_counter()
    with EventLog(path) as log:
        task = progress.task(f"rebuilding {', '.join(projections)} in place", log.head())
        counted = [0]

        def read(events: int) -> None:
            counted[0] += events
            task.advance(events)

        engine = rebuild_engine(url)
        try:
            handlers = [h for h in default_projections() if h.name in projections]
            # the live projector's own reset: its tables, the numbering, their checkpoints
            await Projector(ReplaySource(log), engine, handlers=handlers).reset()
            projector = BulkProjector(log, path, projections, batch_size=batch_size, on_read=read)
            try:
                with fewer_collections():
                    position = await projector.catch_up()
            except ProjectionFailed as exc:  # noted on the checkpoints, as the projector does
                await _note_failure(engine, exc)
                raise
            async with engine.connect() as conn:
                await conn.execution_options(**{WRITE_OPTION: True})
                async with conn.begin():
                    generation = await bump_generation(conn)
        finally:
            await engine.dispose()
        return RebuildResult(
            projections=projections,
            position=position,
            head=log.head(),
            events=counted[0],
            seconds=time.perf_counter() - started,
            swap_seconds=None,
            generation=generation,
        )


async def _note_failure(engine: AsyncEngine, failure: ProjectionFailed) -> None:
    async with engine.connect() as conn:
        await conn.execution_options(**{WRITE_OPTION: True})
        async with conn.begin():
            await record_error(conn, failure.projections, str(failure), datetime.now(UTC))
