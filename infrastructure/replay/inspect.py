"""Looking at a store file: projection status, store statistics, the tail of the log, and an
order as it stood at any point, folded from its events.

``order_at`` folds with the projector's own pieces (``domain.decider.evolve``,
``next_meta``, ``render_order``), so the view it returns is the one the read models held
right after that event; its ticket number is re-derived with the domain's numbering fold
over the ``OrderPlaced`` events before it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from domain.business_day import OrderNumbering
from domain.codec import decode_recorded
from domain.decider import evolve
from domain.events import EVENT_NAMES, OrderPlaced
from domain.ports import JSON, RecordedEvent
from infrastructure.event_store._common import decode_rows
from infrastructure.projector import ORDER_NUMBERS, next_meta
from infrastructure.read_models.handlers import GENERATION
from infrastructure.read_models.views import TrackedOrder, render_order
from infrastructure.replay.rebuild import TABLES
from infrastructure.replay.source import COLUMNS, EventLog

PROJECTIONS: Final = (*TABLES, ORDER_NUMBERS)


class OrderNotFound(LookupError):
    """No such order, or none yet at the asked point (the CLI exits 1)."""


# --- projections ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProjectionStatus:
    name: str
    position: int
    lag: int
    updated_at: datetime | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class StatusReport:
    head: int
    generation: int
    projections: tuple[ProjectionStatus, ...]


def projection_status(log: EventLog) -> StatusReport:
    """Every projection's checkpoint, lag behind the head and last error (never run: 0)."""
    head = log.head()
    rows = {
        name: (position, updated_at, error)
        for name, position, updated_at, error in log.conn.execute(
            "SELECT name, position, updated_at, last_error FROM projection_checkpoints"
        )
    }
    generation = rows.pop(GENERATION, (0, None, None))[0]
    names = [*PROJECTIONS, *sorted(set(rows) - set(PROJECTIONS))]
    projections = []
    for name in names:
        position, updated_at, error = rows.get(name, (0, None, None))
        projections.append(
            ProjectionStatus(name, position, max(0, head - position), _utc(updated_at), error)
        )
    return StatusReport(head, generation, tuple(projections))


def last_projected(log: EventLog) -> datetime | None:
    """When a projector last wrote a checkpoint (a running server writes one per batch)."""
    raw = log.conn.execute(
        "SELECT max(updated_at) FROM projection_checkpoints WHERE name != ?", (GENERATION,)
    ).fetchone()[0]
    return _utc(raw)


def _utc(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    value = datetime.fromisoformat(raw)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


# --- statistics ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoreStats:
    events: int
    streams: int
    head: int
    types: dict[str, int]
    first_recorded_at: str | None
    last_recorded_at: str | None
    files: dict[str, int]
    """Bytes on disk: the database file, its ``-wal`` and ``-shm``."""

    @property
    def size(self) -> int:
        return sum(self.files.values())


def store_stats(log: EventLog) -> StoreStats:
    conn = log.conn
    conn.execute("BEGIN")
    try:
        events, head = conn.execute(
            "SELECT count(*), coalesce(max(position), 0) FROM events"
        ).fetchone()
        streams = conn.execute("SELECT count(DISTINCT stream_id) FROM events").fetchone()[0]
        types = dict(
            conn.execute("SELECT type, count(*) FROM events GROUP BY type ORDER BY count(*) DESC")
        )
        first = conn.execute("SELECT recorded_at FROM events ORDER BY position LIMIT 1").fetchone()
        last = conn.execute(
            "SELECT recorded_at FROM events ORDER BY position DESC LIMIT 1"
        ).fetchone()
    finally:
        conn.execute("COMMIT")
    return StoreStats(
        events=events,
        streams=streams,
        head=head,
        types=types,
        first_recorded_at=first[0] if first else None,
        last_recorded_at=last[0] if last else None,
        files=_file_sizes(log.path),
    )


def _file_sizes(path: Path) -> dict[str, int]:
    sizes = {}
    for suffix in ("", "-wal", "-shm"):
        file = f"{path}{suffix}"
        if os.path.exists(file):
            sizes[Path(file).name] = os.path.getsize(file)
    return sizes


# --- the tail ------------------------------------------------------------------------------


def tail(
    log: EventLog,
    *,
    after: int | None = None,
    limit: int = 20,
    stream: str | None = None,
    type_: str | None = None,
) -> list[RecordedEvent]:
    """Matching events after ``after``, oldest first; without ``after``, the last ``limit``."""
    where, params = _filters(stream, type_)
    if after is not None:
        rows = log.conn.execute(
            f"SELECT {COLUMNS} FROM events WHERE position > ? {where} ORDER BY position LIMIT ?",
            (after, *params, limit),
        ).fetchall()
    else:
        rows = log.conn.execute(
            f"SELECT {COLUMNS} FROM events WHERE 1 {where} ORDER BY position DESC LIMIT ?",
            (*params, limit),
        ).fetchall()
        rows.reverse()
    return decode_rows(rows, None)


def _filters(stream: str | None, type_: str | None) -> tuple[str, tuple[Any, ...]]:
    clauses, params = [], []
    if stream is not None:
        clauses.append("AND stream_id = ?")
        params.append(stream)
    if type_ is not None:
        clauses.append("AND type = ?")
        params.append(type_)
    return " ".join(clauses), tuple(params)


# --- an order at a point -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderAt:
    order_id: str
    position: int
    """The position of the last event folded."""
    version: int
    view: JSON | None
    """The order view after that event; None once discarded."""
    events: tuple[RecordedEvent, ...]
    """The events folded, oldest first."""


def order_history(log: EventLog, order_id: str) -> list[RecordedEvent]:
    events = log.stream(order_id)
    if not events:
        raise OrderNotFound(f"there is no order {order_id!r}")
    return events


def order_at(
    log: EventLog,
    order_id: str,
    *,
    position: int | None = None,
    at_time: datetime | None = None,
) -> OrderAt:
    """The order as it stood right after the last of its events at or before ``position`` (or
    recorded at or before ``at_time``); with neither, as it stands now."""
    history = order_history(log, order_id)
    events = [e for e in history if _until(e, position, at_time)]
    if not events:
        point = f"position {position}" if position is not None else f"{at_time}"
        raise OrderNotFound(
            f"order {order_id!r} did not exist yet at {point} (it was placed at position "
            f"{history[0].position}, recorded {history[0].recorded_at.isoformat()})"
        )
    tracked: TrackedOrder | None = None
    number = None
    for recorded in events:
        event = decode_recorded(recorded)
        if isinstance(event, OrderPlaced):
            number = ticket_number(log, recorded, event)
        order = evolve(tracked.order if tracked else None, event)
        tracked = TrackedOrder(order, next_meta(tracked, order, recorded, number))
    assert tracked is not None
    view = None if tracked.order.discarded else render_order(tracked)
    return OrderAt(order_id, events[-1].position, tracked.version, view, tuple(events))


def _until(event: RecordedEvent, position: int | None, at_time: datetime | None) -> bool:
    if position is not None and event.position > position:
        return False
    return at_time is None or event.recorded_at <= at_time


def ticket_number(log: EventLog, placed: RecordedEvent, event: OrderPlaced) -> int:
    """The order's rank among the ``OrderPlaced`` events of its business day, by position."""
    numbering = OrderNumbering()
    for earlier in _placed_before(log, placed.position):
        other = decode_recorded(earlier)
        assert isinstance(other, OrderPlaced)
        if other.business_day == event.business_day:
            numbering.number(other)
    return numbering.number(event)


def _placed_before(log: EventLog, position: int) -> Iterator[RecordedEvent]:
    cursor = log.conn.execute(
        f"SELECT {COLUMNS} FROM events WHERE type = ? AND position < ? ORDER BY position",
        (EVENT_NAMES[OrderPlaced], position),
    )
    while rows := cursor.fetchmany(5_000):
        yield from decode_rows(rows, None)
