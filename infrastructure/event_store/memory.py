"""The in-memory ``EventStore``: a complete implementation of the port, held in lists.

Used by unit and contract tests and by anything that wants the service without a file.
It stores the same JSON text and row shape as the SQLite store, so what it accepts,
returns and upcasts is exactly what the SQLite store would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from types import TracebackType

from domain.ports import (
    AppendResult,
    ExpectedVersion,
    IdempotencyKey,
    NewEvent,
    RecordedEvent,
    Upcaster,
)
from infrastructure.event_store._common import (
    RawRow,
    check_expected,
    check_limit,
    decode_rows,
    duplicate_event_id,
    encode_events,
    now_iso,
    replay,
)


class InMemoryEventStore:
    """Events in a list (index = position - 1); waiters woken through a condition."""

    def __init__(self, upcaster: Upcaster | None = None) -> None:
        self._upcaster = upcaster
        self._rows: list[RawRow] = []
        self._streams: dict[str, list[int]] = {}  # stream id -> indexes into _rows
        self._event_ids: set[str] = set()
        self._keys: dict[str, tuple[str, AppendResult]] = {}
        self._appended = asyncio.Condition()
        self._closed = False

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion,
        *,
        idempotency: IdempotencyKey | None = None,
    ) -> AppendResult:
        self._check_open()
        encoded = encode_events(events, expected_version)
        # No await until the rows are in: on one event loop the check and the write are atomic.
        if idempotency is not None and (seen := self._keys.get(idempotency.key)) is not None:
            return replay(idempotency, *seen)
        indexes = self._streams.get(stream_id, [])
        check_expected(stream_id, expected_version, len(indexes))
        ids = [e[0] for e in encoded]
        for event_id in ids:
            if event_id in self._event_ids:
                raise duplicate_event_id(event_id)
        self._streams[stream_id] = indexes
        recorded_at = now_iso()
        first = len(self._rows) + 1
        version = len(indexes)
        for offset, (event_id, type_, schema_version, data, metadata) in enumerate(encoded):
            position, stream_version = first + offset, version + offset + 1
            row = (
                position,
                stream_id,
                stream_version,
                event_id,
                type_,
                schema_version,
                data,
                metadata,
                recorded_at,
            )
            self._rows.append(row)
            indexes.append(position - 1)
        self._event_ids.update(ids)
        result = AppendResult(stream_id, version + len(encoded), first, len(self._rows))
        if idempotency is not None:
            self._keys[idempotency.key] = (idempotency.fingerprint, result)
        async with self._appended:
            self._appended.notify_all()
        return result

    async def read_stream(self, stream_id: str, from_version: int = 1) -> list[RecordedEvent]:
        self._check_open()
        indexes = self._streams.get(stream_id, [])[max(from_version, 1) - 1 :]
        return decode_rows([self._rows[i] for i in indexes], self._upcaster)

    async def read_all(self, after_position: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        self._check_open()
        check_limit(limit)
        start = max(after_position, 0)
        return decode_rows(self._rows[start : start + limit], self._upcaster)

    async def head_position(self) -> int:
        self._check_open()
        return len(self._rows)

    async def wait_for_events(self, after_position: int, timeout: float | None) -> int:
        self._check_open()
        async with self._appended:
            try:
                async with asyncio.timeout(timeout):
                    await self._appended.wait_for(
                        lambda: len(self._rows) > after_position or self._closed
                    )
            except TimeoutError:
                pass
            return len(self._rows)

    async def find_idempotent(self, key: IdempotencyKey) -> AppendResult | None:
        self._check_open()
        seen = self._keys.get(key.key)
        return None if seen is None else replay(key, *seen)

    async def close(self) -> None:
        self._closed = True
        async with self._appended:  # waiters end their wait, as on the SQLite store
            self._appended.notify_all()

    async def __aenter__(self) -> InMemoryEventStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the event store is closed")
