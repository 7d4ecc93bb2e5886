"""The application service: carry out one command against the event store.

``OrderService.execute`` loads the order's stream (stream id = order id),
folds it, decides, and appends the decided events with the loaded version as
the expected version. Every event's metadata holds ``occurred_at`` (ISO 8601
UTC, one instant per command), ``actor``, ``correlation_id`` and
``causation_id``.

Concurrency: with an explicit ``expected_version`` (HTTP If-Match) a stream at
another version raises ``ConcurrencyConflict`` at once (checked before deciding,
and enforced again by the store). Without one, a conflict means someone else
appended between our read and our write: re-read and re-decide, at most
``max_retries`` more times.

Idempotency: the store replays a key's first result instead of appending. But a
retried command is decided before it reaches the store, and deciding it again
may now fail (the items it fired are no longer new) or its If-Match may now be
stale. So a command with a key first asks the store (``find_idempotent``) and, when
that key's append has committed, is answered from it without deciding.

Placing an order does not read its stream first: the order id is new, so the append
expects ``no_stream``; a conflict is retried (bounded, as above) with a read.

Ids and the business day are chosen by the caller and put into the command
(``new_order_id``, ``new_item_id``, ``business_day_now``) so ``decide`` stays
pure and replays are deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo
from typing import Final, cast

from domain.business_day import business_day
from domain.codec import decode_recorded, to_new_event
from domain.commands import Command, PlaceOrder
from domain.decider import decide, fold
from domain.events import Event
from domain.frozen import fast_init
from domain.model import Order
from domain.ports import (
    JSON,
    NO_STREAM,
    AppendResult,
    Clock,
    ConcurrencyConflict,
    EventStore,
    ExpectedVersion,
    IdempotencyKey,
    IdGenerator,
    RecordedEvent,
    Upcaster,
)

__all__ = ["CommandContext", "CommandResult", "OrderService"]


@fast_init
@dataclass(frozen=True, slots=True)
class CommandContext:
    """Who asked, and as part of what: copied into every event's metadata."""

    actor: str
    correlation_id: str
    causation_id: str | None = None


_UNFOLDED: Final = object()


class CommandResult:
    """The order after the command, the events it decided, and what the store appended.

    ``append`` is None when the command decided no events (nothing to do). On an
    idempotent replay ``events`` is empty, ``append.replayed`` is true and ``order``
    is the order as that first append left it. ``order`` is folded on first use: a
    response the read models answer never needs it.
    """

    __slots__ = ("_before", "_order", "append", "events")

    def __init__(
        self, order: Order | None, events: list[Event], append: AppendResult | None
    ) -> None:
        self._order: object = order
        self._before: Order | None = None
        self.events = events
        self.append = append

    @classmethod
    def decided(
        cls, before: Order | None, events: list[Event], append: AppendResult
    ) -> CommandResult:
        """The result of appending ``events`` to the order as it was (``before``)."""
        result = cls(None, events, append)
        result._order = _UNFOLDED
        result._before = before
        return result

    @property
    def order(self) -> Order | None:
        if self._order is _UNFOLDED:
            self._order = fold(self.events, self._before)
            self._before = None
        return cast(Order | None, self._order)

    @property
    def position(self) -> int | None:
        """The global position of the last event written (None if nothing was)."""
        return self.append.last_position if self.append is not None else None


class OrderService:
    def __init__(
        self,
        store: EventStore,
        clock: Clock,
        ids: IdGenerator,
        *,
        max_retries: int = 3,
        upcasters: Upcaster | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._ids = ids
        self._max_retries = max_retries
        self._upcasters = upcasters

    def new_order_id(self) -> str:
        return self._ids.new_id()

    def new_item_id(self) -> str:
        return self._ids.new_id()

    def business_day_now(self, tz: tzinfo, start_hour: int) -> str:
        """The business day it is now (for ``PlaceOrder.business_day``)."""
        return business_day(self._clock.now(), tz, start_hour)

    async def load(self, order_id: str) -> Order | None:
        """The order folded from its stream (None if it has none; discarded ones are kept)."""
        return self._fold(await self._store.read_stream(order_id))

    async def execute(
        self,
        command: Command,
        context: CommandContext,
        *,
        expected_version: int | None = None,
        idempotency: IdempotencyKey | None = None,
    ) -> CommandResult:
        """Decide ``command`` and append its events; raises ``DomainError``,
        ``ConcurrencyConflict`` or ``IdempotencyKeyReused``."""
        retries_left = 0 if expected_version is not None else self._max_retries
        # A new order's id was just generated: its stream cannot exist yet, so the first
        # attempt skips reading it and appends with ``no_stream``. Should the stream exist
        # after all, the conflict is retried like any other, down the normal path.
        fresh = isinstance(command, PlaceOrder) and expected_version is None
        while True:
            try:
                return await self._attempt(command, context, expected_version, idempotency, fresh)
            except ConcurrencyConflict:
                if retries_left == 0:
                    raise
                retries_left -= 1
                fresh = False

    async def _attempt(
        self,
        command: Command,
        context: CommandContext,
        expected_version: int | None,
        idempotency: IdempotencyKey | None,
        fresh: bool = False,
    ) -> CommandResult:
        stream_id = command.order_id
        # A retry whose first attempt committed is answered from the store's key, before
        # deciding again (which might now fail: a second fire finds nothing to fire).
        if idempotency is not None and (done := await self._store.find_idempotent(idempotency)):
            return self._replayed(await self._store.read_stream(done.stream_id), done)
        recorded = [] if fresh else await self._store.read_stream(stream_id)
        state = self._fold(recorded)
        version = state.version if state is not None else 0
        if expected_version is not None and expected_version != version:
            raise ConcurrencyConflict(stream_id, expected_version, version)
        events = decide(state, command)
        if not events:
            return CommandResult(state, [], None)
        metadata = self._metadata(context)
        new_events = [to_new_event(e, self._ids.new_id(), dict(metadata)) for e in events]
        expected: ExpectedVersion = version if state is not None else NO_STREAM
        result = await self._store.append(stream_id, new_events, expected, idempotency=idempotency)
        if result.replayed:
            return self._replayed(await self._store.read_stream(result.stream_id), result)
        return CommandResult.decided(state, events, result)

    def _metadata(self, context: CommandContext) -> JSON:
        return {
            "occurred_at": self._clock.now().isoformat(),
            "actor": context.actor,
            "correlation_id": context.correlation_id,
            "causation_id": context.causation_id,
        }

    def _fold(self, recorded: list[RecordedEvent]) -> Order | None:
        return fold(decode_recorded(event, self._upcasters) for event in recorded)

    def _replayed(self, recorded: list[RecordedEvent], result: AppendResult) -> CommandResult:
        upto = [event for event in recorded if event.stream_version <= result.stream_version]
        return CommandResult(self._fold(upto), [], result)
