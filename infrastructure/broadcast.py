"""The projector's outlet to live screens: the ``Broadcaster`` port and the no-op one.

The projector calls ``publish`` once per committed batch, in position order, after
the read models already show the batch. ``ProjectedEvent`` carries what a router
(the Socket.IO rooms) needs to pick rooms without reading the database again.
A broadcaster that raises or hangs is logged and skipped by the projector; it can
never undo or stop a projection.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from domain.ports import JSON, RecordedEvent

Facts = tuple[JSON | None, str | None, str | None, bool, bool, bool, frozenset[str]]
"""``(order, previous_status, status, sent, in_kitchen, was_in_kitchen, stations)``."""


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

    Immutable. ``ProjectedEvent.deferred`` builds one whose facts (above all the order view)
    are computed on first use, from immutable state: the projector publishes every event,
    but a broadcaster routes only those some room listens to, so most are never asked.
    """

    __slots__ = ("_facts", "_source", "event")

    event: RecordedEvent
    _facts: Facts | None
    _source: Callable[[], Facts] | None

    def __init__(
        self,
        event: RecordedEvent,
        order: JSON | None,
        previous_status: str | None,
        status: str | None,
        sent: bool,
        in_kitchen: bool,
        was_in_kitchen: bool,
        stations: frozenset[str],
    ) -> None:
        _set(self, "event", event)
        _set(
            self,
            "_facts",
            (order, previous_status, status, sent, in_kitchen, was_in_kitchen, stations),
        )
        _set(self, "_source", None)

    @classmethod
    def deferred(cls, event: RecordedEvent, facts: Callable[[], Facts]) -> ProjectedEvent:
        """A ``ProjectedEvent`` of ``event`` whose facts ``facts()`` gives when first asked
        (it must always give the same: computed from immutable state)."""
        projected = cls.__new__(cls)
        _set(projected, "event", event)
        _set(projected, "_facts", None)
        _set(projected, "_source", facts)
        return projected

    def _all(self) -> Facts:
        facts = self._facts
        if facts is None:
            source = self._source
            assert source is not None
            facts = source()
            _set(self, "_facts", facts)
            _set(self, "_source", None)
        return facts

    @property
    def order(self) -> JSON | None:
        return self._all()[0]

    @property
    def previous_status(self) -> str | None:
        return self._all()[1]

    @property
    def status(self) -> str | None:
        return self._all()[2]

    @property
    def sent(self) -> bool:
        return self._all()[3]

    @property
    def in_kitchen(self) -> bool:
        return self._all()[4]

    @property
    def was_in_kitchen(self) -> bool:
        return self._all()[5]

    @property
    def stations(self) -> frozenset[str]:
        return self._all()[6]

    @property
    def position(self) -> int:
        return self.event.position

    @property
    def order_id(self) -> str:
        return self.event.stream_id

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"ProjectedEvent is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"ProjectedEvent is immutable: cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ProjectedEvent):
            return NotImplemented
        return self.event == other.event and self._all() == other._all()

    def __hash__(self) -> int:  # as a frozen dataclass's (unhashable while the view is a dict)
        return hash((self.event, self._all()))

    def __repr__(self) -> str:
        order, previous, status, sent, in_kitchen, was_in_kitchen, stations = self._all()
        return (
            f"ProjectedEvent(event={self.event!r}, order={order!r}, previous_status={previous!r}, "
            f"status={status!r}, sent={sent!r}, in_kitchen={in_kitchen!r}, "
            f"was_in_kitchen={was_in_kitchen!r}, stations={stations!r})"
        )


_set = object.__setattr__


class Broadcaster(Protocol):
    """Receives every projected batch, after it is committed, in position order."""

    async def publish(self, batch: Sequence[ProjectedEvent]) -> None: ...


class NullBroadcaster:
    """Publishes nowhere: replays, rebuilds and tests that watch only the read models."""

    async def publish(self, batch: Sequence[ProjectedEvent]) -> None:
        return None
