"""Rebuilds projected events from the event store, for resumes the broadcaster's ring misses.

After a restart (an empty ring) or a long absence, a join with ``since`` needs
events the broadcaster no longer holds. They are read back with ``read_all`` and
folded exactly as the projector folds them (``domain.decider.evolve``, the
projector's ``next_meta`` and ``projected_event``), so a replayed message is the
message that was pushed live. Ticket numbers are immutable, so they are taken from
the current order views (a discarded order has none left: its replayed views show
``number: null``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from domain.codec import decode_recorded
from domain.decider import evolve
from domain.ports import EventStore, RecordedEvent
from infrastructure.broadcast import ProjectedEvent
from infrastructure.projector import next_meta, projected_event
from infrastructure.read_models import OrderChange, ReadModels, ReadSnapshot, TrackedOrder

MAX_REPLAY: Final = 50_000
"""Most events one resume may rebuild; an older ``since`` is refused (join without it)."""


class ReplayTooLong(LookupError):
    """``since`` is so old that replaying from it would rebuild too many events."""


class StoreHistory:
    """``resume.History`` over an event store and the read models."""

    def __init__(
        self,
        store: EventStore,
        read_models: ReadModels,
        *,
        max_events: int = MAX_REPLAY,
        page_size: int = 1000,
    ) -> None:
        self._store = store
        self._read_models = read_models
        self._max_events = max_events
        self._page_size = page_size

    async def projected(self, after: int, until: int) -> Sequence[ProjectedEvent]:
        if until - after > self._max_events:
            raise ReplayTooLong(
                f"since={after} is {until - after} events back; at most {self._max_events} "
                "can be replayed: join without since for a snapshot"
            )
        events = await self._read(after, until)
        async with self._read_models.snapshot() as snap:
            return await _Folder(self._store, snap).project(events)

    async def _read(self, after: int, until: int) -> list[RecordedEvent]:
        events: list[RecordedEvent] = []
        while after < until:
            page = await self._store.read_all(after, min(self._page_size, until - after))
            if not page:
                break
            events.extend(e for e in page if e.position <= until)
            after = page[-1].position
        return events


class _Folder:
    """Order states as of each event, refolded from their streams on first sight."""

    def __init__(self, store: EventStore, snap: ReadSnapshot) -> None:
        self._store = store
        self._snap = snap
        self._orders: dict[str, TrackedOrder | None] = {}

    async def project(self, events: Sequence[RecordedEvent]) -> list[ProjectedEvent]:
        return [await self._project(recorded) for recorded in events]

    async def _project(self, recorded: RecordedEvent) -> ProjectedEvent:
        order_id = recorded.stream_id
        if order_id not in self._orders:
            self._orders[order_id] = await self._before(recorded)
        before = self._orders[order_id]
        event = decode_recorded(recorded)
        order = evolve(before.order if before else None, event)
        after: TrackedOrder | None = None
        if not order.discarded:
            number = before.meta.number if before else await self._number(order_id)
            after = TrackedOrder(order, next_meta(before, order, recorded, number))
        self._orders[order_id] = after
        return projected_event(OrderChange(recorded, event, before, after))

    async def _before(self, recorded: RecordedEvent) -> TrackedOrder | None:
        """The order just before ``recorded``, folded from its stream."""
        tracked: TrackedOrder | None = None
        number = await self._number(recorded.stream_id)
        for past in await self._store.read_stream(recorded.stream_id):
            if past.stream_version >= recorded.stream_version:
                break
            order = evolve(tracked.order if tracked else None, decode_recorded(past))
            tracked = TrackedOrder(order, next_meta(tracked, order, past, number))
        return tracked

    async def _number(self, order_id: str) -> int | None:
        view = await self._snap.get_order(order_id)
        number = view.get("number") if view else None
        return number if isinstance(number, int) else None
