"""The operator tools' access to a store file: plain ``sqlite3`` reads of the events table.

``open_log(url)`` checks that the URL names a migrated SQLite file (else
``StoreUnavailable``) and returns an ``EventLog``: one read-only connection (WAL lets it
read while the server writes), keyset scans in position order, a stream's rows, the
head. ``ReplaySource`` puts the read side of the ``EventStore`` port over it, optionally
capped at a position, so the real ``Projector`` can replay from it: the replay reads on
the caller's thread in large batches instead of going through the server's async
readers, the fastest way to feed a rebuild (``bench/replay_bench.py``).

Writes never go through here: imports append through the event store's own API.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Final, cast

from domain.ports import (
    AppendResult,
    ExpectedVersion,
    IdempotencyKey,
    NewEvent,
    RecordedEvent,
    Upcaster,
)
from infrastructure.event_store._common import RawRow, decode_rows
from infrastructure.migrations import SchemaNotReady, check_schema, sqlite_file, sync_url

COLUMNS: Final = (
    "position, stream_id, stream_version, event_id, type, schema_version, data, metadata, "
    "recorded_at"
)
_SCAN: Final = (
    f"SELECT {COLUMNS} FROM events WHERE position > ? AND position <= ? ORDER BY position"
)
_STREAM: Final = (
    f"SELECT {COLUMNS} FROM events WHERE stream_id = ? AND stream_version >= ? "
    "ORDER BY stream_version"
)
OnRead = Callable[[Sequence[RecordedEvent]], None]

BUSY_TIMEOUT: Final = 10.0
"""Seconds a tool's connection waits for the server's write lock before giving up."""


class StoreUnavailable(RuntimeError):
    """The database cannot be reached or is not migrated (the CLI exits 3)."""


def database_file(url: str) -> Path:
    """The SQLite file ``url`` names, checked to exist and to be migrated to the code's head."""
    path = sqlite_file(sync_url(url))
    if path is None:
        raise StoreUnavailable(f"{url!r} is not an SQLite file: the replay tools need one")
    if not path.is_file():
        raise StoreUnavailable(f"there is no database file {str(path)!r}")
    try:
        check_schema(url)
    except SchemaNotReady as exc:
        raise StoreUnavailable(str(exc)) from exc
    except Exception as exc:  # unreadable file, not a database...
        raise StoreUnavailable(f"cannot read {str(path)!r}: {exc}") from exc
    return path


def connect(path: Path, *, write: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (explicit ``BEGIN``); read-only unless ``write``."""
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None)
    if not write:
        conn.execute("PRAGMA query_only = ON")
    return conn


class EventLog:
    """Reads of one store file's events table over one ``sqlite3`` connection."""

    def __init__(self, path: Path, *, upcaster: Upcaster | None = None) -> None:
        self.path = path
        self.conn = connect(path)
        self._upcaster = upcaster

    def head(self) -> int:
        return cast(
            int, self.conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()[0]
        )

    def rows(
        self, after: int = 0, until: int | None = None, batch: int = 10_000
    ) -> Iterator[list[RawRow]]:
        """Stored rows with ``after < position <= until`` (default: the head), in batches.

        Each batch is its own query: run it inside ``BEGIN``/``COMMIT`` on ``self.conn`` for
        one snapshot across batches.
        """
        until = self.head() if until is None else until
        while after < until:
            rows = self.conn.execute(_SCAN + " LIMIT ?", (after, until, batch)).fetchall()
            if not rows:
                return
            yield rows
            after = rows[-1][0]

    def read(self, after: int, limit: int, until: int | None = None) -> list[RecordedEvent]:
        """Up to ``limit`` events past ``after`` (and not past ``until``), upcast."""
        bound = until if until is not None else 2**62
        rows = self.conn.execute(_SCAN + " LIMIT ?", (after, bound, limit)).fetchall()
        return decode_rows(rows, self._upcaster)

    def stream(self, stream_id: str, from_version: int = 1) -> list[RecordedEvent]:
        return decode_rows(self.stream_rows(stream_id, from_version), self._upcaster)

    def stream_rows(self, stream_id: str, from_version: int = 1) -> list[RawRow]:
        return self.conn.execute(_STREAM, (stream_id, from_version)).fetchall()

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> EventLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_log(url: str, *, upcaster: Upcaster | None = None) -> EventLog:
    """The ``EventLog`` of the store ``url`` names (``StoreUnavailable`` if it cannot be)."""
    return EventLog(database_file(url), upcaster=upcaster)


class ReplaySource:
    """The read side of the ``EventStore`` port over an ``EventLog``, capped at ``until``.

    ``until`` (None: no cap) may be raised between reads: the online rebuild follows the
    live projector's checkpoint with it. Each read reports its events to ``on_read``.
    """

    def __init__(
        self,
        log: EventLog,
        until: int | None = None,
        *,
        on_read: OnRead | None = None,
    ) -> None:
        self.log = log
        self.until = until
        self._on_read = on_read

    async def read_all(self, after_position: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        events = self.log.read(after_position, limit, self.until)
        if events and self._on_read is not None:
            self._on_read(events)
        return events

    async def read_stream(self, stream_id: str, from_version: int = 1) -> list[RecordedEvent]:
        return self.log.stream(stream_id, from_version)

    async def head_position(self) -> int:
        head = self.log.head()
        return head if self.until is None else min(head, self.until)

    async def wait_for_events(self, after_position: int, timeout: float | None) -> int:
        return await self.head_position()  # a replay never waits: it stops at the head

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion,
        *,
        idempotency: IdempotencyKey | None = None,
    ) -> AppendResult:
        raise RuntimeError("a replay source is read-only")

    async def find_idempotent(self, key: IdempotencyKey) -> AppendResult | None:
        return None  # a replay decides no command

    async def close(self) -> None:
        return None
