"""Rules every event store adapter shares: argument checks, version checks, JSON, upcasting.

Kept in one place so the in-memory store and the SQLite store refuse, accept and decode
exactly the same things (the contract suite runs against both).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Final

import orjson

from domain.ports import (
    ANY,
    JSON,
    NO_STREAM,
    AppendResult,
    ConcurrencyConflict,
    EventStoreError,
    ExpectedVersion,
    IdempotencyKey,
    IdempotencyKeyReused,
    NewEvent,
    RecordedEvent,
    Upcaster,
)

EncodedEvent = tuple[str, str, int, str, str]
"""``(event_id, type, schema_version, data JSON, metadata JSON)``, ready for a row."""

_VALID_LITERALS: Final = (NO_STREAM, ANY)


def encode_events(
    events: Sequence[NewEvent], expected_version: ExpectedVersion
) -> list[EncodedEvent]:
    """Validate an append's arguments and serialise its events.

    Encoding happens in the caller's task so a non-JSON payload fails that caller alone,
    before it can reach a shared write batch.
    """
    if not events:
        raise ValueError("an append needs at least one event")
    if isinstance(expected_version, bool) or (
        not isinstance(expected_version, int) and expected_version not in _VALID_LITERALS
    ):
        raise ValueError(
            f"expected_version must be an int, 'no_stream' or 'any': {expected_version!r}"
        )
    if isinstance(expected_version, int) and expected_version < 0:
        raise ValueError(f"expected_version must not be negative: {expected_version}")
    encoded = [
        (e.event_id, e.type, e.schema_version, dumps(e.data), dumps(e.metadata)) for e in events
    ]
    if len({e.event_id for e in events}) != len(events):
        seen: set[str] = set()
        for e in events:
            if e.event_id in seen:
                raise duplicate_event_id(e.event_id)
            seen.add(e.event_id)
    return encoded


def check_expected(stream_id: str, expected: ExpectedVersion, actual: int) -> None:
    """Raise ``ConcurrencyConflict`` unless a stream at ``actual`` satisfies ``expected``."""
    if expected == ANY:
        return
    wanted = 0 if expected == NO_STREAM else expected
    if actual != wanted:
        raise ConcurrencyConflict(stream_id, expected, actual)


def replay(key: IdempotencyKey, fingerprint: str, first: AppendResult) -> AppendResult:
    """The result to return for a key seen before, or ``IdempotencyKeyReused``."""
    if fingerprint != key.fingerprint:
        raise IdempotencyKeyReused(key.key)
    return replace(first, replayed=True)


def check_limit(limit: int) -> None:
    if limit < 1:
        raise ValueError(f"limit must be at least 1: {limit}")


def duplicate_event_id(event_id: str) -> EventStoreError:
    return EventStoreError(f"event id {event_id!r} is already stored")


def dumps(value: JSON) -> str:
    # Stored as TEXT, not BLOB, so the column stays readable with the sqlite3 shell.
    return orjson.dumps(value).decode()


loads = orjson.loads


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


RawRow = tuple[int, str, int, str, str, int, str, str, str]
"""``(position, stream_id, stream_version, event_id, type, schema_version, data, metadata,
recorded_at)``: the stored shape of an event, the same for every adapter."""


def decode_rows(rows: Sequence[RawRow], upcaster: Upcaster | None) -> list[RecordedEvent]:
    """Build ``RecordedEvent`` values from stored rows, upcasting each one on the way.

    This is the hot loop of a replay, hence the local names and the single pass.
    """
    from_iso = datetime.fromisoformat
    event = RecordedEvent
    if upcaster is None:
        return [
            event(pos, sid, ver, eid, typ, sv, loads(data), loads(meta), from_iso(at))
            for pos, sid, ver, eid, typ, sv, data, meta, at in rows
        ]
    out: list[RecordedEvent] = []
    append = out.append
    for pos, sid, ver, eid, typ, sv, data, meta, at in rows:
        sv2, data2 = upcaster(typ, sv, loads(data))
        append(event(pos, sid, ver, eid, typ, sv2, data2, loads(meta), from_iso(at)))
    return out
