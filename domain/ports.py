"""Ports the application needs, as protocols, and the value types they exchange.

The event store speaks in *raw* events (type name, schema version, JSON-able
dicts) so that every adapter stays ignorant of domain classes; ``domain.codec``
maps between the two.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal, Protocol

from domain.frozen import fast_init

JSON = dict[str, Any]

NO_STREAM: Final = "no_stream"
ANY: Final = "any"
ExpectedVersion = int | Literal["no_stream", "any"]
"""``no_stream`` (the stream must not exist), ``any``, or the exact current version."""


@fast_init
@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event about to be appended. A store may keep ``data`` and ``metadata`` as given
    (for its readers in this process): do not change them once appended."""

    event_id: str
    type: str
    data: JSON
    metadata: JSON = field(default_factory=dict)
    schema_version: int = 1
    source: object | None = field(default=None, compare=False, repr=False)
    """The domain event this encodes, when the caller has it: a store in the same process
    hands it back as ``RecordedEvent.decoded``, so that readers need not decode it again."""


@fast_init
@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event as stored: global ``position`` (dense, commit order) and stream version."""

    position: int
    stream_id: str
    stream_version: int
    event_id: str
    type: str
    schema_version: int
    data: JSON
    metadata: JSON
    recorded_at: datetime
    decoded: object | None = field(default=None, compare=False, repr=False)
    """The domain event, when the store still holds the one it was appended with (see
    ``NewEvent.source``); ``domain.codec.decode_recorded`` returns it as is."""


@fast_init
@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    """A client's idempotency key and the fingerprint of the request it came with."""

    key: str
    fingerprint: str


@fast_init
@dataclass(frozen=True, slots=True)
class AppendResult:
    """What an append wrote (or, when ``replayed``, what the first append with the key wrote)."""

    stream_id: str
    stream_version: int
    first_position: int
    last_position: int
    replayed: bool = False


class EventStoreError(Exception):
    """Base class of the errors an event store raises on purpose."""


class ConcurrencyConflict(EventStoreError):
    """The stream is not at the expected version; nothing was written."""

    def __init__(self, stream_id: str, expected: ExpectedVersion, actual: int) -> None:
        super().__init__(f"stream {stream_id!r} is at version {actual}, expected {expected}")
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class IdempotencyKeyReused(EventStoreError):
    """The idempotency key was already used with a different request."""

    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency key {key!r} was already used with another request")
        self.key = key


class Upcaster(Protocol):
    """Turns a stored (type, schema_version, data) into the current shape."""

    def __call__(self, type_: str, schema_version: int, data: JSON) -> tuple[int, JSON]: ...


class EventStore(Protocol):
    """Append-only log of events with per-stream optimistic concurrency."""

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion,
        *,
        idempotency: IdempotencyKey | None = None,
    ) -> AppendResult:
        """Append all events or none; raise ``ConcurrencyConflict`` on a version mismatch.

        With ``idempotency``: a key seen before with the same fingerprint returns the
        first result (``replayed=True``) and appends nothing; with another fingerprint
        it raises ``IdempotencyKeyReused``.
        """
        ...

    async def find_idempotent(self, key: IdempotencyKey) -> AppendResult | None:
        """The committed result of the append that first used ``key.key`` (``replayed=True``),
        or None; ``IdempotencyKeyReused`` if that append came with another fingerprint."""
        ...

    async def read_stream(self, stream_id: str, from_version: int = 1) -> list[RecordedEvent]:
        """The stream's events with ``stream_version >= from_version``, oldest first."""
        ...

    async def read_all(self, after_position: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        """Up to ``limit`` events with ``position > after_position``, in position order."""
        ...

    async def head_position(self) -> int:
        """The highest committed position (0 for an empty store)."""
        ...

    async def wait_for_events(self, after_position: int, timeout: float | None) -> int:
        """Wait until the head passes ``after_position`` or ``timeout`` seconds pass
        (``None``: no time limit; the store's ``close`` still ends the wait).

        Returns the head position. Appends in this process wake waiters at once;
        writers in other processes are noticed by polling.
        """
        ...

    async def close(self) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...


class IdGenerator(Protocol):
    def new_id(self) -> str:
        """A new unique id (a UUID string)."""
        ...
