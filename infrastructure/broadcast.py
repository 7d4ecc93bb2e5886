"""The projector's outlet to live screens: the ``Broadcaster`` port and the no-op one.

The projector calls ``publish`` once per committed batch, in position order, after
the read models already show the batch. ``ProjectedEvent`` carries what a router
(the Socket.IO rooms) needs to pick rooms without reading the database again.
A broadcaster that raises or hangs is logged and skipped by the projector; it can
never undo or stop a projection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from domain.ports import JSON, RecordedEvent


@dataclass(frozen=True, slots=True)
class ProjectedEvent:
    """One stored event after projection, with routing facts about its order.

    - ``order``: the order view after the event (``docs/architecture.md``); None for
      ``OrderDiscarded`` (the order is gone; ``previous_status`` says what it was).
    - ``previous_status`` / ``status``: the order status before / after the event (None
      before ``OrderPlaced`` and after ``OrderDiscarded``).
    - ``sent``: the order has been sent to the kitchen at least once (the ``kitchen``
      room's filter; it stays True through served, completed and cancelled so screens
      see the order leave).
    - ``in_kitchen`` / ``was_in_kitchen``: the order is on the kitchen board (a ticket in
      ``ReadModels.kitchen_tickets``) after / before the event.
    - ``stations``: the stations the event concerns: those of the items it names (whatever
      their status); for order-level events (status, details, discard), every station the
      order has sent items at. Items without a station add none.
    """

    event: RecordedEvent
    order: JSON | None
    previous_status: str | None
    status: str | None
    sent: bool
    in_kitchen: bool
    was_in_kitchen: bool
    stations: frozenset[str]

    @property
    def position(self) -> int:
        return self.event.position

    @property
    def order_id(self) -> str:
        return self.event.stream_id


class Broadcaster(Protocol):
    """Receives every projected batch, after it is committed, in position order."""

    async def publish(self, batch: Sequence[ProjectedEvent]) -> None: ...


class NullBroadcaster:
    """Publishes nowhere: replays, rebuilds and tests that watch only the read models."""

    async def publish(self, batch: Sequence[ProjectedEvent]) -> None:
        return None
