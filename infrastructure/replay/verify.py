"""Auditing a store file: the log's own invariants, and the read models against a fresh fold.

``verify_store`` checks that

- positions are dense (1, 2, 3, ... with no gap or repeat),
- every stream's versions are contiguous from 1,
- every event decodes and upcasts to the current shape (and folds onto its order),
- every read-model table equals, row by row, the same table rebuilt from the events into a
  temporary database by the rebuild's ``BulkProjector`` (the domain's fold, the
  projector's row shapes), at the live read models' position.

The live tables are read in one read transaction whose checkpoint is the position the
fresh fold is brought to, so a server projecting meanwhile does not cause false
differences. Each difference found is reported (up to ``limit``); nothing is written to
the store file.
"""

from __future__ import annotations

import contextlib
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import orjson

from domain.codec import decode
from infrastructure.projector import ORDER_NUMBERS, ProjectionFailed
from infrastructure.read_models.tables import READ_MODEL_TABLES
from infrastructure.replay.bulk import BulkProjector
from infrastructure.replay.progress import NO_PROGRESS, Progress, Task
from infrastructure.replay.rebuild import (
    NUMBERING,
    REBUILD_BATCH,
    TABLES,
    create_table_sql,
)
from infrastructure.replay.source import EventLog, connect, database_file
from infrastructure.replay.tuning import fewer_collections

DEFAULT_LIMIT: Final = 1000
"""Differences kept in a report (the rest are only counted)."""

_OWNERS: Final[dict[str, str]] = {
    **{table: name for name, tables in TABLES.items() for table in tables},
    **dict.fromkeys(NUMBERING, ORDER_NUMBERS),
}
"""Read-model table -> the checkpoint that says how far it is."""


@dataclass(frozen=True, slots=True)
class Difference:
    check: str
    """``positions``, ``versions``, ``decode``, ``checkpoints`` or a read-model table name."""
    where: str
    detail: str

    def __str__(self) -> str:
        return f"{self.check}: {self.where}: {self.detail}"


@dataclass(slots=True)
class VerifyReport:
    head: int = 0
    events: int = 0
    streams: int = 0
    position: int | None = None
    """The position the read models were compared at (None: not compared)."""
    tables: dict[str, int] = field(default_factory=dict)
    """Rows compared per read-model table."""
    differences: list[Difference] = field(default_factory=list)
    more: int = 0
    """Differences found beyond the ones kept."""
    limit: int = DEFAULT_LIMIT

    @property
    def ok(self) -> bool:
        return not self.differences

    @property
    def found(self) -> int:
        return len(self.differences) + self.more

    def add(self, check: str, where: str, detail: str) -> None:
        if len(self.differences) < self.limit:
            self.differences.append(Difference(check, where, detail))
        else:
            self.more += 1


async def verify_store(
    url: str,
    *,
    read_models: bool = True,
    batch_size: int = REBUILD_BATCH,
    progress: Progress = NO_PROGRESS,
    limit: int = DEFAULT_LIMIT,
) -> VerifyReport:
    """Audit the store ``url`` names; ``read_models=False`` checks the log only."""
    path = database_file(url)
    report = VerifyReport(limit=limit)
    with EventLog(path) as log:
        report.head = log.head()
        _check_sequence(log, report, progress.task("checking positions and versions", report.head))
        decoded_to = 0
        if read_models:
            decoded_to = await _compare_read_models(path, log, report, batch_size, progress)
        if decoded_to < report.head:
            _check_decoding(log, report, decoded_to, progress)
    return report


# --- the log --------------------------------------------------------------------------------


def _check_sequence(log: EventLog, report: VerifyReport, task: Task) -> None:
    versions: dict[str, int] = {}
    expected, seen = 1, 0
    cursor = log.conn.execute(
        "SELECT position, stream_id, stream_version FROM events ORDER BY position"
    )
    while rows := cursor.fetchmany(50_000):
        for position, stream_id, version in rows:
            if position != expected:
                report.add("positions", f"position {position}", f"expected position {expected}")
            expected = position + 1
            last = versions.get(stream_id, 0)
            if version != last + 1:
                what = f"follows version {last}" if last else "is the stream's first event"
                report.add("versions", f"stream {stream_id} version {version}", f"{what}")
            versions[stream_id] = version
        seen += len(rows)
        task.advance(len(rows))
    report.events, report.streams = seen, len(versions)


def _check_decoding(log: EventLog, report: VerifyReport, after: int, progress: Progress) -> None:
    """Decode and upcast every event past ``after`` on its own, reporting each failure."""
    task = progress.task("decoding events", report.head - after)
    for rows in log.rows(after):
        for position, _sid, _ver, _eid, type_, version, data, metadata, recorded_at in rows:
            try:
                parsed = orjson.loads(data)
                if not isinstance(orjson.loads(metadata), dict):
                    raise ValueError("metadata is not a JSON object")
                datetime.fromisoformat(recorded_at)
                decode(type_, parsed, version)
            except Exception as exc:
                report.add("decode", f"position {position} ({type_} v{version})", str(exc))
        task.advance(len(rows))


# --- the read models --------------------------------------------------------------------


async def _compare_read_models(
    path: Path, log: EventLog, report: VerifyReport, batch_size: int, progress: Progress
) -> int:
    """Fold into a temporary database and compare; the position every event decoded to."""
    with tempfile.TemporaryDirectory(prefix="order-service-verify-") as tmp:
        fresh = Path(tmp) / "fresh.db"
        _copy_schema(path, fresh)
        task = progress.task("folding the events afresh")
        projector = BulkProjector(
            log,
            fresh,
            tuple(TABLES),
            batch_size=batch_size,
            until=0,
            on_read=task.advance,
            # a throwaway file: no need to survive a crash
            pragmas=("PRAGMA synchronous = OFF", "PRAGMA journal_mode = MEMORY"),
        )
        live = connect(path)
        try:
            with fewer_collections():
                return await _fold_and_compare(live, fresh, projector, report, task)
        finally:
            live.close()


async def _fold_and_compare(
    live: sqlite3.Connection,
    fresh: Path,
    projector: BulkProjector,
    report: VerifyReport,
    task: Task,
) -> int:
    target = max(_checkpoints(live).values(), default=0)
    if not await _fold(projector, target, report, task):
        return projector.position
    live.execute("BEGIN")  # one snapshot of the live tables, at the checkpoint read first
    try:
        checkpoints = _checkpoints(live)
        target = max(checkpoints.values(), default=0)
        if not await _fold(projector, target, report, task):
            return projector.position
        report.position = target
        with contextlib.closing(connect(fresh)) as scratch:
            for table in (t.name for t in READ_MODEL_TABLES if t.name in _OWNERS):
                at = checkpoints.get(_OWNERS[table], 0)
                if at != target:
                    report.add(
                        "checkpoints",
                        table,
                        f"{_OWNERS[table]} is at position {at}, other projections at {target}: "
                        "not compared (lagging or stuck; see `projections status`)",
                    )
                    continue
                report.tables[table] = _compare_table(live, scratch, table, report)
    finally:
        live.execute("COMMIT")
    return target


async def _fold(projector: BulkProjector, target: int, report: VerifyReport, task: Task) -> bool:
    projector.until = target
    task.total(target)
    try:
        await projector.catch_up()
    except ProjectionFailed as exc:
        report.add("decode", f"position {exc.position}", f"the events do not fold: {exc}")
        return False
    return True


def _checkpoints(conn: sqlite3.Connection) -> dict[str, int]:
    names = {*TABLES, ORDER_NUMBERS}
    rows = conn.execute("SELECT name, position FROM projection_checkpoints").fetchall()
    return {name: position for name, position in rows if name in names}


def _compare_table(
    live: sqlite3.Connection, fresh: sqlite3.Connection, table: str, report: VerifyReport
) -> int:
    """Merge the two tables in primary-key order; the rows compared."""
    key = _primary_key(live, table)
    order = ", ".join(f'"{c}"' for c in key)
    live_rows = live.execute(f'SELECT * FROM "{table}" ORDER BY {order}')
    columns = [d[0] for d in live_rows.description]
    fresh_rows = fresh.execute(f'SELECT {", ".join(columns)} FROM "{table}" ORDER BY {order}')
    at = [columns.index(c) for c in key]
    compared = 0
    for mine, theirs in _merge(live_rows, fresh_rows, at):
        compared += 1
        row = mine if mine is not None else theirs
        assert row is not None
        where = ", ".join(f"{c}={row[i]!r}" for c, i in zip(key, at, strict=True))
        if theirs is None:
            report.add(table, where, "row not in a fresh fold of the events")
        elif mine is None:
            report.add(table, where, "row missing (a fresh fold of the events has it)")
        elif mine != theirs:
            report.add(table, where, _row_difference(columns, mine, theirs))
    return compared


def _merge(
    left: Iterator[tuple[Any, ...]], right: Iterator[tuple[Any, ...]], key: Sequence[int]
) -> Iterator[tuple[tuple[Any, ...] | None, tuple[Any, ...] | None]]:
    """Pairs of rows with equal keys from two key-ordered iterators (None where one lacks it)."""
    a, b = next(left, None), next(right, None)
    while a is not None or b is not None:
        ka = tuple(a[i] for i in key) if a is not None else None
        kb = tuple(b[i] for i in key) if b is not None else None
        if kb is None or (ka is not None and ka < kb):
            yield a, None
            a = next(left, None)
        elif ka is None or kb < ka:
            yield None, b
            b = next(right, None)
        else:
            yield a, b
            a, b = next(left, None), next(right, None)


def _row_difference(columns: Sequence[str], mine: Sequence[Any], theirs: Sequence[Any]) -> str:
    parts = []
    for column, value, expected in zip(columns, mine, theirs, strict=True):
        if value != expected:
            parts.append(f"{column} {_json_difference(value, expected)}")
    return "; ".join(parts)


def _json_difference(value: Any, expected: Any) -> str:
    """``is X, the events say Y``; for JSON documents only the keys that differ."""
    try:
        mine, theirs = orjson.loads(value), orjson.loads(expected)
    except (orjson.JSONDecodeError, TypeError):
        return f"is {value!r}, the events say {expected!r}"
    if isinstance(mine, dict) and isinstance(theirs, dict):
        keys = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
        shown = ", ".join(f"{k}: {mine.get(k)!r} (events: {theirs.get(k)!r})" for k in keys)
        return f"differs in {shown}"
    return f"is {value!r}, the events say {expected!r}"


def _primary_key(conn: sqlite3.Connection, table: str) -> list[str]:
    info = conn.execute(f'PRAGMA table_info("{table}")').fetchall()
    return [row[1] for row in sorted(info, key=lambda r: r[5]) if row[5] > 0]


# --- the scratch database ---------------------------------------------------------------------


def _copy_schema(path: Path, fresh: Path) -> None:
    """The live read-model tables' definitions (no secondary indexes) in a new file."""
    with (
        contextlib.closing(connect(path)) as live,
        contextlib.closing(connect(fresh, write=True)) as new,
    ):
        for table in READ_MODEL_TABLES:
            new.execute(create_table_sql(live, table.name, table.name))
