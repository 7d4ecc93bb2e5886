"""Moving events between stores as JSON Lines: export, and an idempotent, resumable import.

Export writes one stored event per line with every column, as stored (``data`` and
``metadata`` as JSON objects, no upcasting), in position order, from one read snapshot::

    {"position":1,"stream_id":"…","stream_version":1,"event_id":"…","type":"OrderPlaced",
     "schema_version":1,"data":{…},"metadata":{…},"recorded_at":"2026-11-25T18:01:02+00:00"}

Import appends the file's events through the event store's own ``append`` (with the exact
expected version), so the target assigns new positions and ``recorded_at`` times; stream
ids, versions, event ids, types, schema versions, data and metadata are kept, and the
relative order of the file's events is kept. The file is checked in full first; nothing
is appended if any line is refused:

- an event whose ``event_id`` is already in the target (or earlier in the file) with the
  same stream, version, type, schema version, data and metadata is skipped: re-importing a
  file, or the rest of one after an interruption, appends only what is missing;
- the same ``event_id`` with other content is a conflict, so is another event at the same
  stream version (a different history);
- a stream version that skips ahead of the stream's last one is a gap.
"""

from __future__ import annotations

import asyncio
import hashlib
from array import array
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

import orjson

from domain.ports import AppendResult, EventStore, EventStoreError, NewEvent
from infrastructure.event_store import open_event_store
from infrastructure.replay.progress import NO_PROGRESS, Progress
from infrastructure.replay.source import EventLog, database_file

CHUNK: Final = 2_000
"""Lines checked (and appended) per round trip to the target."""
PROBLEM_LIMIT: Final = 100
"""Problems kept in an import report (the rest are only counted)."""
_FIELDS: Final = (
    ("position", int),
    ("stream_id", str),
    ("stream_version", int),
    ("event_id", str),
    ("type", str),
    ("schema_version", int),
    ("data", dict),
    ("metadata", dict),
    ("recorded_at", str),
)


# --- export ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExportResult:
    events: int
    first: int | None
    last: int | None
    head: int


def export_events(
    url: str,
    out: IO[bytes],
    *,
    after: int = 0,
    until: int | None = None,
    progress: Progress = NO_PROGRESS,
) -> ExportResult:
    """Write the events with ``after < position <= until`` (default: the head) to ``out``."""
    with EventLog(database_file(url)) as log:
        log.conn.execute("BEGIN")  # one snapshot: the head cannot move under the export
        try:
            head = log.head()
            until = head if until is None else min(until, head)
            task = progress.task("exporting", max(0, until - after))
            count, first, last = 0, None, None
            for rows in log.rows(after, until):
                out.write(b"".join(_line(row) for row in rows))
                count += len(rows)
                first = rows[0][0] if first is None else first
                last = rows[-1][0]
                task.advance(len(rows))
        finally:
            log.conn.execute("COMMIT")
    return ExportResult(count, first, last, head)


_LINE: Final = (
    b'{"position":%d,"stream_id":%b,"stream_version":%d,"event_id":%b,"type":%b,'
    b'"schema_version":%d,"data":%b,"metadata":%b,"recorded_at":%b}\n'
)


def _line(row: tuple[Any, ...]) -> bytes:
    position, stream_id, version, event_id, type_, schema, data, metadata, recorded_at = row
    # The stored JSON is embedded as it is (no parse, no re-encode); the same bytes as
    # orjson.dumps of the dict with orjson.Fragment values, about three times faster.
    dumps = orjson.dumps
    return _LINE % (
        position,
        dumps(stream_id),
        version,
        dumps(event_id),
        dumps(type_),
        schema,
        data.encode(),
        metadata.encode(),
        dumps(recorded_at),
    )


# --- import ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    line: int
    kind: str
    """``malformed``, ``conflict`` or ``gap``."""
    detail: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.kind}: {self.detail}"


@dataclass(slots=True)
class ImportReport:
    lines: int = 0
    imported: int = 0
    skipped: int = 0
    """Events already in the target (or earlier in the file), identical."""
    problems: list[Problem] = field(default_factory=list)
    more_problems: int = 0
    first_position: int | None = None
    last_position: int | None = None
    """Positions the target gave the imported events."""

    @property
    def ok(self) -> bool:
        return not self.problems

    def refuse(self, line: int, kind: str, detail: str) -> None:
        if len(self.problems) < PROBLEM_LIMIT:
            self.problems.append(Problem(line, kind, detail))
        else:
            self.more_problems += 1


@dataclass(frozen=True, slots=True)
class _Event:
    line: int
    stream_id: str
    stream_version: int
    event_id: str
    type: str
    schema_version: int
    data: dict[str, Any]
    metadata: dict[str, Any]

    def same_as(self, row: tuple[Any, ...]) -> bool:
        """Whether a stored ``(stream_id, version, type, schema, data, metadata)`` is this."""
        stream_id, version, type_, schema, data, metadata = row
        return (stream_id, version, type_, schema) == (
            self.stream_id,
            self.stream_version,
            self.type,
            self.schema_version,
        ) and (orjson.loads(data), orjson.loads(metadata)) == (self.data, self.metadata)

    def digest(self) -> int:
        content = orjson.dumps(
            [self.event_id, self.type, self.schema_version, self.data, self.metadata],
            option=orjson.OPT_SORT_KEYS,
        )
        return int.from_bytes(hashlib.blake2b(content, digest_size=8).digest(), "big", signed=True)

    def new_event(self) -> NewEvent:
        return NewEvent(self.event_id, self.type, self.data, self.metadata, self.schema_version)


@dataclass(slots=True)
class _Stream:
    """A stream as the import sees it: the target's version, then the file's events past it."""

    base: int
    digests: array[int] = field(default_factory=lambda: array("q"))

    @property
    def version(self) -> int:
        return self.base + len(self.digests)


class _Importer:
    """Classifies the file's events chunk by chunk against the target and the file so far."""

    def __init__(self, log: EventLog, report: ImportReport) -> None:
        self._log = log
        self._report = report
        self._streams: dict[str, _Stream] = {}

    def classify(self, events: list[_Event]) -> list[_Event]:
        """The events of ``events`` to append (in order); skips and refusals go to the report."""
        stored = self._stored(e.event_id for e in events)
        self._load_streams({e.stream_id for e in events} - self._streams.keys())
        todo: list[_Event] = []
        for event in events:
            found = stored.get(event.event_id)
            if found is not None:
                self._present(event, found)
            elif self._fits(event):
                todo.append(event)
        return todo

    def _present(self, event: _Event, row: tuple[Any, ...]) -> None:
        if event.same_as(row):
            self._report.skipped += 1
            return
        self._report.refuse(
            event.line,
            "conflict",
            f"event {event.event_id} is in the target as {row[0]} v{row[1]} {row[2]} with "
            "other content",
        )

    def _fits(self, event: _Event) -> bool:
        stream = self._streams[event.stream_id]
        version, where = event.stream_version, f"stream {event.stream_id} version"
        if version == stream.version + 1:
            stream.digests.append(event.digest())
            return True
        if version > stream.version + 1:
            self._report.refuse(
                event.line,
                "gap",
                f"{where} {version} follows version {stream.version}: versions "
                f"{stream.version + 1}..{version - 1} are missing (were they exported?)",
            )
        elif version <= stream.base:
            self._report.refuse(
                event.line,
                "conflict",
                f"{where} {version} is another event in the target (event {event.event_id} "
                "is not): the target has a different history",
            )
        elif stream.digests[version - stream.base - 1] == event.digest():
            self._report.skipped += 1  # the same event earlier in the file
        else:
            self._report.refuse(
                event.line,
                "conflict",
                f"{where} {version} appears earlier in the file as another event",
            )
        return False

    def _stored(self, event_ids: Iterable[str]) -> dict[str, tuple[Any, ...]]:
        ids = list(event_ids)
        marks = ", ".join("?" * len(ids))
        rows = self._log.conn.execute(
            "SELECT event_id, stream_id, stream_version, type, schema_version, data, metadata "
            f"FROM events WHERE event_id IN ({marks})",
            ids,
        ).fetchall()
        return {row[0]: row[1:] for row in rows}

    def _load_streams(self, stream_ids: set[str]) -> None:
        if not stream_ids:
            return
        ids = list(stream_ids)
        marks = ", ".join("?" * len(ids))
        rows = self._log.conn.execute(
            "SELECT stream_id, max(stream_version) FROM events "
            f"WHERE stream_id IN ({marks}) GROUP BY stream_id",
            ids,
        ).fetchall()
        found = dict(rows)
        for stream_id in ids:
            self._streams[stream_id] = _Stream(found.get(stream_id, 0))


async def import_events(
    url: str,
    file: Path,
    *,
    progress: Progress = NO_PROGRESS,
    check_only: bool = False,
) -> ImportReport:
    """Check ``file`` against the store ``url`` names, then append what it lacks (see above)."""
    with EventLog(database_file(url)) as log:
        report = check_import(log, file, progress)
        if not report.ok or check_only:
            return report
        to_import = report.lines - report.skipped
        report = ImportReport()
        importer = _Importer(log, report)
        task = progress.task(f"importing {file.name}", to_import)
        async with _store(url) as store:
            for chunk in _chunks(file, report, lambda _: None):
                todo = importer.classify(chunk)
                if not report.ok:
                    break  # the target changed since the check
                await _append(store, todo, report)
                task.advance(len(todo))
        return report


def check_import(log: EventLog, file: Path, progress: Progress = NO_PROGRESS) -> ImportReport:
    """What importing ``file`` would do: problems, and the events already there."""
    report = ImportReport()
    importer = _Importer(log, report)
    task = progress.task(f"checking {file.name}", file.stat().st_size)
    for chunk in _chunks(file, report, task.advance):
        importer.classify(chunk)
    return report


@asynccontextmanager
async def _store(url: str) -> AsyncIterator[EventStore]:
    store = await open_event_store(url)
    try:
        yield store
    finally:
        await store.close()


async def _append(store: EventStore, events: list[_Event], report: ImportReport) -> None:
    """Append ``events`` in file order: runs of one stream per append, all queued at once so
    the store's writer commits them together, in the order they were queued."""
    runs = list(_runs(events))
    appends = [
        store.append(run[0].stream_id, [e.new_event() for e in run], run[0].stream_version - 1)
        for run in runs
    ]
    results = await asyncio.gather(*appends, return_exceptions=True)
    for run, result in zip(runs, results, strict=True):
        if isinstance(result, AppendResult):
            report.imported += len(run)
            if report.first_position is None:
                report.first_position = result.first_position
            report.last_position = result.last_position
        elif isinstance(result, EventStoreError):  # someone else wrote to the stream meanwhile
            report.refuse(run[0].line, "conflict", f"the target refused the append: {result}")
        else:
            raise result


def _runs(events: list[_Event]) -> Iterator[list[_Event]]:
    run: list[_Event] = []
    for event in events:
        if run and event.stream_id != run[0].stream_id:
            yield run
            run = []
        run.append(event)
    if run:
        yield run


def _chunks(
    file: Path, report: ImportReport, advance: Callable[[int], None]
) -> Iterator[list[_Event]]:
    chunk: list[_Event] = []
    with file.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            advance(len(line))
            report.lines = number
            if not line.strip():
                report.lines -= 1
                continue
            event = _parse(number, line, report)
            if event is not None:
                chunk.append(event)
            if len(chunk) >= CHUNK:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def _parse(number: int, line: bytes, report: ImportReport) -> _Event | None:
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        report.refuse(number, "malformed", f"not JSON: {exc}")
        return None
    if not isinstance(raw, dict):
        report.refuse(number, "malformed", "not a JSON object")
        return None
    for name, kind in _FIELDS:
        value = raw.get(name)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            report.refuse(number, "malformed", f"{name} must be a {kind.__name__}: {value!r}")
            return None
    if raw["stream_version"] < 1:
        report.refuse(number, "malformed", f"stream_version must be >= 1: {raw['stream_version']}")
        return None
    return _Event(
        number,
        raw["stream_id"],
        raw["stream_version"],
        raw["event_id"],
        raw["type"],
        raw["schema_version"],
        raw["data"],
        raw["metadata"],
    )
