"""The projector on a real SQLite file: read models, numbering, checkpoints, broadcaster.

Events come from the domain's ``OrderService`` on a real ``SqliteEventStore``; the
read models live in the same migrated file. Synchronisation is by position
(``wait_for_position``), never by sleeping.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.codec import to_new_event
from domain.commands import (
    BumpItem,
    ChangeStatus,
    Command,
    DiscardOrder,
    FireItems,
    PlaceOrder,
    RecallItem,
    VoidItem,
)
from domain.events import ItemsFired, ItemSpec, OrderPlaced, OrderStatusChanged
from domain.handlers import CommandContext, OrderService
from domain.model import OrderStatus, OrderType
from domain.ports import NO_STREAM, EventStore
from infrastructure.broadcast import ProjectedEvent
from infrastructure.event_store import open_event_store
from infrastructure.event_store.sqlite import SqliteEventStore
from infrastructure.migrations import upgrade
from infrastructure.projector import ORDER_NUMBERS, Projector, rebuild
from infrastructure.read_models import (
    OrderChange,
    ReadModels,
    create_engine,
    default_projections,
)
from infrastructure.read_models.handlers import stored_iso, stored_time
from infrastructure.read_models.tables import (
    PROJECTION_CHECKPOINTS,
    READ_MODEL_TABLES,
    as_utc,
    iso,
)

pytestmark = pytest.mark.anyio

DAY = "2026-11-25"
NEXT_DAY = "2026-11-26"
WAIT = 10.0
"""Generous upper bound for waits that must succeed (they return as soon as they do)."""


# --- fixtures and helpers (test_read_models imports these) ------------------------------


@pytest.fixture(autouse=True, params=[False, True], ids=["core", "one-hop"])
def one_hop_writes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Every test here runs twice: with the projector's Core statements on aiosqlite, and as
    the server runs it (``one_hop_writes``: the handlers' plain rows on ``sqlite3``)."""
    defaults = Projector.__init__.__kwdefaults__
    assert defaults is not None
    monkeypatch.setitem(defaults, "one_hop_writes", request.param)
    return bool(request.param)


class StepClock:
    """Each ``now()`` is one second after the previous one: distinct, ordered timestamps."""

    def __init__(self, start: datetime = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)) -> None:
        self._ticks = itertools.count()
        self._start = start

    def now(self) -> datetime:
        return self._start + timedelta(seconds=next(self._ticks))


class CountingIds:
    def __init__(self) -> None:
        self._ids = itertools.count(1)

    def new_id(self) -> str:
        return f"id-{next(self._ids):05d}"


@dataclass
class Pos:
    """The POS: runs commands through the domain service and remembers the last position."""

    service: OrderService
    position: int = 0
    ctx: CommandContext = field(default_factory=lambda: CommandContext("pos-1", "corr-1"))

    async def run(self, command: Command) -> int:
        result = await self.service.execute(command, self.ctx)
        assert result.position is not None
        self.position = result.position
        return result.position

    async def place(
        self,
        *stations: str | None,
        order_type: OrderType = OrderType.DINE_IN,
        table: int | None = 7,
        day: str = DAY,
        fire: bool = True,
    ) -> tuple[str, list[str]]:
        """Place an order with one item per station; its id and the item ids."""
        order_id = self.service.new_order_id()
        items = tuple(item(self.service.new_item_id(), station) for station in stations)
        table = table if order_type is OrderType.DINE_IN else None
        await self.run(PlaceOrder(order_id, day, order_type, items, table, 2, None, fire))
        return order_id, [i.item_id for i in items]


def item(item_id: str, station: str | None, *, quantity: int = 2, price: int = 575) -> ItemSpec:
    return ItemSpec(
        item_id=item_id,
        menu_item_id=f"m-{station}",
        name=f"{station or 'counter'} dish",
        quantity=quantity,
        unit_price=price,
        modifiers=("no onion",),
        station=station,
    )


def db_url(path: Path) -> str:
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    return url


@pytest.fixture
def url(tmp_path: Path) -> str:
    return db_url(tmp_path / "orders.db")


@pytest.fixture
async def store(url: str) -> AsyncIterator[EventStore]:
    opened = await open_event_store(url, synchronous="NORMAL")
    yield opened
    await opened.close()


@pytest.fixture
async def engine(url: str) -> AsyncIterator[AsyncEngine]:
    created = create_engine(url)
    yield created
    await created.dispose()


@pytest.fixture
def pos(store: EventStore) -> Pos:
    return Pos(OrderService(store, StepClock(), CountingIds()))


@pytest.fixture
def read_models(engine: AsyncEngine) -> ReadModels:
    return ReadModels(engine)


@pytest.fixture
async def projector(store: EventStore, engine: AsyncEngine) -> AsyncIterator[Projector]:
    running = Projector(store, engine, batch_size=4, retry_delay=0.01)
    await running.start()
    yield running
    await running.stop()


async def settled(projector: Projector, pos: Pos) -> None:
    assert await projector.wait_for_position(pos.position, WAIT)


async def dump(engine: AsyncEngine) -> dict[str, list[tuple[Any, ...]]]:
    """Every read-model row, sorted (checkpoints without their wall-clock column)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with engine.connect() as conn:
        for table in READ_MODEL_TABLES:
            columns = [
                c
                for c in table.columns
                if not (table is PROJECTION_CHECKPOINTS and c.name == "updated_at")
            ]
            rows = await conn.execute(select(*columns))
            out[table.name] = sorted(tuple(row) for row in rows)
    return out


# --- lifecycle --------------------------------------------------------------------------


async def test_place_fire_then_bump_all_makes_the_view_ready(
    pos: Pos, projector: Projector, read_models: ReadModels
) -> None:
    order_id, (grill, bar) = await pos.place("grill", "bar")
    await settled(projector, pos)

    view = await read_models.get_order(order_id)
    assert view is not None
    assert view["status"] == "sent"
    assert view["number"] == 1
    assert view["version"] == 2  # OrderPlaced, ItemsFired (the firing is the move to sent)
    assert view["position"] == pos.position
    assert view["total"] == 2 * 2 * 575
    assert view["sent_at"] == view["created_at"] == "2026-11-25T18:00:00.000000+00:00"
    assert [i["status"] for i in view["items"]] == ["sent", "sent"]
    assert view["items"][0] == {
        "id": grill,
        "menu_item_id": "m-grill",
        "name": "grill dish",
        "quantity": 2,
        "unit_price": 575,
        "modifiers": ["no onion"],
        "notes": None,
        "station": "grill",
        "status": "sent",
        "void_reason": None,
    }

    await pos.run(BumpItem(order_id, grill))
    await pos.run(BumpItem(order_id, bar))
    await settled(projector, pos)

    view = await read_models.get_order(order_id)
    assert view is not None
    assert view["status"] == "ready"
    assert [i["status"] for i in view["items"]] == ["ready", "ready"]
    assert view["updated_at"] > view["created_at"]
    assert view["position"] == pos.position
    assert (await read_models.kitchen_tickets())[0]["status"] == "ready"


async def place_the_old_way(pos: Pos, store: EventStore, *stations: str) -> tuple[str, list[str]]:
    """A placed-and-fired order as written before firing was itself the status change:
    ``OrderPlaced``, ``ItemsFired``, ``OrderStatusChanged`` open->sent, appended as such."""
    order_id = pos.service.new_order_id()
    items = tuple(item(pos.service.new_item_id(), station) for station in stations)
    item_ids = tuple(i.item_id for i in items)
    events = (
        OrderPlaced(order_id, DAY, OrderType.DINE_IN, items, 7, 2, None),
        ItemsFired(order_id, item_ids),
        OrderStatusChanged(order_id, OrderStatus.OPEN, OrderStatus.SENT),
    )
    metadata = {
        "occurred_at": "2026-11-25T18:30:00+00:00",
        "actor": pos.ctx.actor,
        "correlation_id": pos.ctx.correlation_id,
        "causation_id": None,
    }
    new_events = [to_new_event(e, pos.service.new_order_id(), dict(metadata)) for e in events]
    result = await store.append(order_id, new_events, NO_STREAM)
    pos.position = result.last_position
    return order_id, list(item_ids)


def same_order(view: dict[str, Any] | None) -> dict[str, Any]:
    """``view`` without what differs between two orders placed alike (ids, ticket number,
    stream version, position, timestamps)."""
    assert view is not None
    unique = {"id", "order_id", "number", "version", "position"}
    unique |= {"created_at", "updated_at", "sent_at"}
    items = [{k: v for k, v in i.items() if k != "id"} for i in view["items"]]
    return {**{k: v for k, v in view.items() if k not in unique}, "items": items}


async def test_the_views_times_are_each_events_own(
    pos: Pos, projector: Projector, read_models: ReadModels
) -> None:
    """created, sent and updated at three different times (each command one second later)."""
    order_id, (grill,) = await pos.place("grill", fire=False)  # 18:00:00
    await pos.run(FireItems(order_id))  # 18:00:01
    await pos.run(BumpItem(order_id, grill))  # 18:00:02
    await settled(projector, pos)
    view = await read_models.get_order(order_id)
    assert view is not None
    assert (view["created_at"], view["sent_at"], view["updated_at"]) == (
        "2026-11-25T18:00:00.000000+00:00",
        "2026-11-25T18:00:01.000000+00:00",
        "2026-11-25T18:00:02.000000+00:00",
    )


async def test_a_stream_written_with_the_old_status_event_projects_like_a_new_one(
    pos: Pos,
    store: EventStore,
    engine: AsyncEngine,
    projector: Projector,
    read_models: ReadModels,
    tmp_path: Path,
) -> None:
    new_id, new_items = await pos.place("grill", "bar")
    old_id, old_items = await place_the_old_way(pos, store, "grill", "bar")
    await settled(projector, pos)
    assert [e.type for e in await store.read_stream(new_id)] == ["OrderPlaced", "ItemsFired"]
    assert [e.type for e in await store.read_stream(old_id)] == [
        "OrderPlaced",
        "ItemsFired",
        "OrderStatusChanged",
    ]

    new, old = await read_models.get_order(new_id), await read_models.get_order(old_id)
    assert new is not None and old is not None
    assert (new["version"], old["version"]) == (2, 3)
    assert new["status"] == old["status"] == "sent"
    assert [i["status"] for i in old["items"]] == ["sent", "sent"]
    assert new["sent_at"] is not None and old["sent_at"] is not None
    assert same_order(old) == same_order(new)
    board = {t["order_id"]: t for t in await read_models.kitchen_tickets()}
    assert list(board) == [new_id, old_id]
    assert same_order(board[old_id]) == same_order(board[new_id])

    # Both go on the same way from there.
    for order_id, item_ids in ((new_id, new_items), (old_id, old_items)):
        for item_id in item_ids:
            await pos.run(BumpItem(order_id, item_id))
    await settled(projector, pos)
    new, old = await read_models.get_order(new_id), await read_models.get_order(old_id)
    assert new is not None and old is not None
    assert new["status"] == old["status"] == "ready"
    assert same_order(old) == same_order(new)

    # A rebuild from zero (an old database after the upgrade) gives the same rows.
    fresh = create_engine(db_url(tmp_path / "fresh.db"))
    try:
        assert await rebuild(store, fresh) == pos.position
        assert await dump(fresh) == await dump(engine)
    finally:
        await fresh.dispose()


async def test_served_and_cancelled_orders_leave_the_kitchen_board(
    pos: Pos, projector: Projector, read_models: ReadModels
) -> None:
    served, (a,) = await pos.place("grill")
    cancelled, _ = await pos.place("bar")
    await pos.run(BumpItem(served, a))
    await pos.run(ChangeStatus(served, OrderStatus.SERVED))
    await pos.run(ChangeStatus(cancelled, OrderStatus.CANCELLED, "guest left"))
    await settled(projector, pos)

    assert await read_models.kitchen_tickets() == []
    view = await read_models.get_order(cancelled)
    assert view is not None
    assert (view["status"], view["cancel_reason"]) == ("cancelled", "guest left")


async def test_discard_removes_the_order_from_every_read_model(
    pos: Pos, projector: Projector, read_models: ReadModels
) -> None:
    kept, _ = await pos.place("grill")
    discarded, _ = await pos.place("grill", fire=False)
    await settled(projector, pos)
    assert await read_models.get_order(discarded) is not None

    await pos.run(DiscardOrder(discarded))
    await settled(projector, pos)

    assert await read_models.get_order(discarded) is None
    assert await read_models.order_number(discarded) == 2  # kept for replays of its events
    page, _ = await read_models.list_orders()
    assert [v["id"] for v in page] == [kept]
    assert [t["order_id"] for t in await read_models.kitchen_tickets()] == [kept]


# --- numbering --------------------------------------------------------------------------


async def test_numbers_run_per_business_day_and_continue_after_a_restart(
    pos: Pos, store: EventStore, engine: AsyncEngine, read_models: ReadModels
) -> None:
    first = Projector(store, engine, batch_size=2)
    await first.start()
    ids = [(await pos.place("grill", day=day))[0] for day in (DAY, NEXT_DAY, DAY, DAY, NEXT_DAY)]
    await settled(first, pos)
    await first.stop()

    # Placed while no projector runs; a fresh one (empty cache) picks up the counters.
    ids += [(await pos.place("grill", day=day))[0] for day in (NEXT_DAY, DAY)]
    second = Projector(store, engine, batch_size=2)
    await second.start()
    try:
        await settled(second, pos)
    finally:
        await second.stop()

    numbers = []
    for order_id in ids:
        view = await read_models.get_order(order_id)
        assert view is not None
        numbers.append((view["business_day"], view["number"]))
    assert numbers == [
        (DAY, 1),
        (NEXT_DAY, 1),
        (DAY, 2),
        (DAY, 3),
        (NEXT_DAY, 2),
        (NEXT_DAY, 3),
        (DAY, 4),
    ]
    rows = await dump(engine)
    assert rows["order_number_counters"] == [(DAY, 4), (NEXT_DAY, 3)]
    assert sorted(rows["order_numbers"]) == sorted(
        (order_id, day, number) for order_id, (day, number) in zip(ids, numbers, strict=True)
    )


# --- checkpoints, restart, rebuild ------------------------------------------------------


async def busy_service(pos: Pos, rounds: int) -> None:
    """A mix of every kind of change, over several orders."""
    for n in range(rounds):
        a, (grill, bar) = await pos.place("grill", "bar", day=DAY if n % 3 else NEXT_DAY)
        b, _ = await pos.place(None, order_type=OrderType.TAKEOUT, fire=False)
        await pos.run(BumpItem(a, grill))
        await pos.run(VoidItem(a, bar, "out of stock") if n % 2 else BumpItem(a, bar))
        if n % 2 == 0:
            await pos.run(RecallItem(a, grill))
        if n % 4 == 1:
            await pos.run(DiscardOrder(b))


async def test_stopped_midway_and_restarted_equals_a_rebuild_from_zero(
    pos: Pos, store: EventStore, engine: AsyncEngine, tmp_path: Path
) -> None:
    await busy_service(pos, 6)
    head = pos.position
    first = Projector(store, engine, batch_size=2)
    await first.start()
    assert await first.wait_for_position(head // 3, WAIT)
    await first.stop()  # graceful: wherever it is, its checkpoints match its rows
    stopped_at = first.position
    assert stopped_at >= head // 3
    assert await ReadModels(engine).checkpoints() == dict.fromkeys(
        ("order_views", "kitchen", ORDER_NUMBERS), stopped_at
    )

    second = Projector(store, engine, batch_size=3)
    await second.start()
    try:
        await busy_service(pos, 3)  # more events while it runs
        await settled(second, pos)
    finally:
        await second.stop()

    fresh = create_engine(db_url(tmp_path / "fresh.db"))
    try:
        assert await rebuild(store, fresh, batch_size=7) == pos.position
        assert await dump(engine) == await dump(fresh)
    finally:
        await fresh.dispose()


async def test_rebuild_in_place_and_with_a_tiny_cache_gives_the_same_rows(
    pos: Pos, store: EventStore, engine: AsyncEngine
) -> None:
    await busy_service(pos, 4)
    await rebuild(store, engine)
    before = await dump(engine)
    assert await rebuild(store, engine, batch_size=1) == pos.position
    assert await dump(engine) == before

    # A one-order cache misses on nearly every event: states are refolded from the streams.
    tiny_cache = Projector(store, engine, batch_size=1, cache_size=1)
    await tiny_cache.reset()
    assert await tiny_cache.catch_up() == pos.position
    assert await dump(engine) == before


def stored_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every read-model row as SQLite stores it (text as written: no type processing), sorted;
    checkpoints without their wall-clock column."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with closing(sqlite3.connect(path)) as conn:
        for table in READ_MODEL_TABLES:
            names = [
                c.name
                for c in table.columns
                if not (table is PROJECTION_CHECKPOINTS and c.name == "updated_at")
            ]
            rows = conn.execute(f"SELECT {', '.join(names)} FROM {table.name}")
            out[table.name] = sorted(rows)
    return out


@pytest.mark.parametrize("batch_size", [1, 3, 500])
async def test_one_hop_plain_rows_are_the_rows_core_statements_write(
    pos: Pos, store: EventStore, tmp_path: Path, batch_size: int
) -> None:
    await busy_service(pos, 6)
    order_id, (grill,) = await pos.place("grill")
    await pos.run(BumpItem(order_id, grill))
    await pos.run(ChangeStatus(order_id, OrderStatus.SERVED))  # off the board
    cancelled, _ = await pos.place("bar")
    await pos.run(ChangeStatus(cancelled, OrderStatus.CANCELLED, "guest left"))
    written: dict[bool, dict[str, list[tuple[Any, ...]]]] = {}
    for one_hop in (False, True):
        path = tmp_path / f"one-hop-{one_hop}.db"
        engine = create_engine(db_url(path))
        try:
            projector = Projector(store, engine, batch_size=batch_size, one_hop_writes=one_hop)
            assert await projector.catch_up() == pos.position
        finally:
            await engine.dispose()
        written[one_hop] = stored_rows(path)
    assert all(written[True][table] for table in written[True] if table != "kitchen_tickets")
    assert written[True] == written[False]


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 11, 25, 18, 0, tzinfo=UTC),
        datetime(2026, 11, 25, 18, 0, 1, 7, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
        datetime(999, 1, 2, 3, 4, 5, 999_999, tzinfo=UTC),
        datetime(2026, 11, 25, 23, 59, 59, 500_000),  # naive: taken as UTC
    ],
)
def test_stored_time_is_what_sqlalchemy_stores_on_sqlite(value: datetime) -> None:
    dialect = sqlite.dialect()
    column = PROJECTION_CHECKPOINTS.c.updated_at
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    assert process is not None
    assert stored_time(value) == process(as_utc(value))
    assert stored_iso(iso(value)) == stored_time(value)  # from the view's text


# --- broadcaster ------------------------------------------------------------------------


class RaisingBroadcaster:
    def __init__(self) -> None:
        self.calls = 0

    async def publish(self, batch: Sequence[ProjectedEvent]) -> None:
        self.calls += 1
        raise RuntimeError("socket server is down")


class LateRaisingBroadcaster(RaisingBroadcaster):
    """Fails after it has suspended once (the part awaited under the publish timeout)."""

    async def publish(self, batch: Sequence[ProjectedEvent]) -> None:
        await asyncio.sleep(0)
        await super().publish(batch)


class HangingBroadcaster:
    async def publish(self, batch: Sequence[ProjectedEvent]) -> None:
        await asyncio.Event().wait()


class CheckingBroadcaster:
    """Records what it gets, and checks the read models already show it."""

    def __init__(self, read_models: ReadModels) -> None:
        self.read_models = read_models
        self.received: list[ProjectedEvent] = []
        self.problems: list[str] = []

    async def publish(self, batch: Sequence[ProjectedEvent]) -> None:
        self.received.extend(batch)
        checkpoints = await self.read_models.checkpoints()
        if min(checkpoints.values()) < batch[-1].position:
            self.problems.append(f"published before commit: {checkpoints}")
        for projected in batch:
            view = await self.read_models.get_order(projected.order_id)
            shown = view["version"] if view is not None else None
            if projected.order is None:
                if shown is not None:
                    self.problems.append(f"{projected.order_id} still shown after discard")
            elif shown is None or shown < projected.event.stream_version:
                self.problems.append(f"{projected.position} published before it is shown")


@pytest.mark.parametrize(
    "failing", [RaisingBroadcaster, LateRaisingBroadcaster], ids=["at-once", "after-awaiting"]
)
async def test_a_raising_broadcaster_does_not_stop_projection(
    pos: Pos,
    store: EventStore,
    engine: AsyncEngine,
    read_models: ReadModels,
    failing: type[RaisingBroadcaster],
) -> None:
    broadcaster = failing()
    projector = Projector(store, engine, broadcaster, batch_size=1)
    await projector.start()
    try:
        order_id, _ = await pos.place("grill")
        await settled(projector, pos)
        second, _ = await pos.place("bar")
        await settled(projector, pos)
    finally:
        await projector.stop()
    assert broadcaster.calls == pos.position  # one batch per event, each one raised
    assert projector.last_error is None
    assert await read_models.get_order(order_id) is not None
    assert await read_models.get_order(second) is not None


async def test_a_hanging_broadcaster_is_given_up_on(
    pos: Pos, store: EventStore, engine: AsyncEngine
) -> None:
    projector = Projector(store, engine, HangingBroadcaster(), publish_timeout=0.05)
    await projector.start()
    try:
        await pos.place("grill")
        await settled(projector, pos)
    finally:
        await projector.stop()


async def test_broadcast_comes_after_commit_in_position_order(
    pos: Pos, store: EventStore, engine: AsyncEngine, read_models: ReadModels
) -> None:
    broadcaster = CheckingBroadcaster(read_models)
    projector = Projector(store, engine, broadcaster, batch_size=3)
    await projector.start()
    try:
        await busy_service(pos, 3)
        await settled(projector, pos)
    finally:
        await projector.stop()

    assert broadcaster.problems == []
    assert [p.position for p in broadcaster.received] == list(range(1, pos.position + 1))


async def test_projected_events_carry_what_room_routing_needs(
    pos: Pos, store: EventStore, engine: AsyncEngine, read_models: ReadModels
) -> None:
    broadcaster = CheckingBroadcaster(read_models)
    projector = Projector(store, engine, broadcaster)
    await projector.start()
    try:
        order_id, (grill, _bar) = await pos.place("grill", "bar")
        await pos.run(BumpItem(order_id, grill))
        open_id, _ = await pos.place("grill", fire=False)
        await pos.run(DiscardOrder(open_id))
        await settled(projector, pos)
    finally:
        await projector.stop()

    got = [
        (p.event.type, p.previous_status, p.status, p.sent, p.was_in_kitchen, p.in_kitchen)
        for p in broadcaster.received
    ]
    assert got == [
        ("OrderPlaced", None, "open", False, False, False),
        ("ItemsFired", "open", "sent", True, False, True),
        ("ItemBumped", "sent", "sent", True, True, True),
        ("OrderPlaced", None, "open", False, False, False),
        ("OrderDiscarded", "open", None, False, False, False),
    ]
    stations = [p.stations for p in broadcaster.received]
    both = frozenset({"grill", "bar"})
    assert stations == [both, both, frozenset({"grill"}), frozenset({"grill"}), frozenset()]
    placed, discarded = broadcaster.received[0], broadcaster.received[-1]
    assert placed.order is not None and placed.order["id"] == order_id
    assert discarded.order is None


# --- waiting ----------------------------------------------------------------------------


async def test_wait_for_position_is_true_after_catch_up_and_false_on_timeout(
    pos: Pos, projector: Projector, store: EventStore
) -> None:
    assert await projector.wait_for_position(0, 0)
    await pos.place("grill")
    assert await projector.wait_for_position(pos.position, WAIT)
    assert projector.position == pos.position
    assert await projector.lag() == 0
    assert not await projector.wait_for_position(pos.position + 1, 0.05)


async def test_waiters_with_shorter_timeouts_expire_first_and_others_still_wake(
    pos: Pos, projector: Projector
) -> None:
    """One timer serves every waiter's deadline: a later waiter with a shorter timeout
    still gets its answer on time, and the earlier one is still woken by its position."""
    await pos.place("grill")
    await settled(projector, pos)
    target = pos.position + 1
    patient = asyncio.create_task(projector.wait_for_position(target, 3600))
    gone = asyncio.create_task(projector.wait_for_position(target, 3600))
    await asyncio.sleep(0)
    gone.cancel()  # a request that went away meanwhile
    assert not await asyncio.wait_for(projector.wait_for_position(target, 0.05), WAIT)
    assert not await asyncio.wait_for(projector.wait_for_position(target, 0.01), WAIT)
    assert not patient.done()
    await pos.place("grill")
    assert await asyncio.wait_for(patient, WAIT)
    assert gone.cancelled()


async def _writer_changes(store: EventStore) -> int:
    """Rows the event store's own writer connection has written (events, and read-model
    rows when the projector shares it)."""
    assert isinstance(store, SqliteEventStore)
    return await store.run_with_writer_connection(
        lambda conn: conn.total_changes, synchronous="NORMAL"
    )


async def _one_order_through(projector: Projector, pos: Pos) -> str:
    """Start ``projector``, place an order, let it be projected, stop; the order's id."""
    await projector.start()
    try:
        order_id, _ = await pos.place("grill")
        await settled(projector, pos)
    finally:
        await projector.stop()
    return order_id


async def test_on_the_same_file_the_projector_writes_on_the_stores_connection(
    pos: Pos, store: EventStore, engine: AsyncEngine, read_models: ReadModels, one_hop_writes: bool
) -> None:
    """One connection for both writers: each one's commit would otherwise empty the other's
    page cache (SQLite drops it when another connection changed the file)."""
    order_id = await _one_order_through(
        Projector(store, engine, one_hop_writes=one_hop_writes), pos
    )
    assert await read_models.get_order(order_id) is not None
    events = pos.position
    if one_hop_writes:
        assert await _writer_changes(store) > events  # the read-model rows too
    else:
        assert await _writer_changes(store) == events


async def test_on_another_file_the_projector_keeps_its_own_connection(
    pos: Pos, store: EventStore, tmp_path: Path
) -> None:
    other = create_engine(db_url(tmp_path / "read_models.db"))
    try:
        order_id = await _one_order_through(Projector(store, other, one_hop_writes=True), pos)
        assert await ReadModels(other).get_order(order_id) is not None
    finally:
        await other.dispose()
    assert await _writer_changes(store) == pos.position  # the events only


class PagesRead:
    """The store, recording how many events each of the projector's ``read_all`` returned."""

    def __init__(self, store: EventStore) -> None:
        self._store = store
        self.pages: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def read_all(self, after_position: int = 0, limit: int = 1000) -> list[Any]:
        page = await self._store.read_all(after_position, limit)
        self.pages.append(len(page))
        return page


async def test_a_caught_up_projector_waits_instead_of_reading_again(
    pos: Pos, store: EventStore, engine: AsyncEngine
) -> None:
    """After a short page the projector waits for the head to move: a read past the head
    would be a query of the file for nothing. Full pages are read on at once."""
    recorded = PagesRead(store)
    projector = Projector(cast(EventStore, recorded), engine, batch_size=2)
    await projector.start()
    try:
        for _ in range(3):
            await pos.place("grill")
            await settled(projector, pos)
        await busy_service(pos, 2)
        await settled(projector, pos)
    finally:
        await projector.stop()
    pages = recorded.pages
    assert pages[0] == 0  # the first read, on an empty store
    # Later, a read that finds nothing only ever follows a full page.
    assert all(pages[n - 1] == 2 for n in range(1, len(pages)) if not pages[n]), pages
    assert 0 < pages.count(0) < len(pages) // 2, pages


class GatedProjection:
    """Holds its first batch until ``gate`` opens (``entered`` is set meanwhile)."""

    name = "gated"

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()

    async def apply(self, conn: AsyncConnection, changes: Sequence[OrderChange]) -> None:
        self.entered.set()
        await self.gate.wait()

    async def reset(self, conn: AsyncConnection) -> None:
        return None


async def test_stop_ends_the_wait_between_batches(
    pos: Pos, store: EventStore, engine: AsyncEngine
) -> None:
    projector = Projector(store, engine, idle_timeout=3600)
    await projector.start()
    await pos.place("grill")
    await settled(projector, pos)
    await asyncio.wait_for(projector.stop(), WAIT)  # not the hour's idle timeout
    assert not projector.running


async def test_stop_during_a_batch_does_not_wait_after_it(
    pos: Pos, store: EventStore, engine: AsyncEngine, read_models: ReadModels
) -> None:
    gated = GatedProjection()
    handlers = (*default_projections(), gated)
    projector = Projector(store, engine, handlers=handlers, idle_timeout=3600)
    await projector.start()
    order_id, _ = await pos.place("grill")
    await asyncio.wait_for(gated.entered.wait(), WAIT)
    stopping = asyncio.create_task(projector.stop())
    await asyncio.sleep(0)  # stop() has asked; the batch is still in hand
    assert not stopping.done()
    gated.gate.set()
    await asyncio.wait_for(stopping, WAIT)  # the batch committed, then no idle wait
    assert projector.position == pos.position
    assert await read_models.get_order(order_id) is not None


# --- failures ---------------------------------------------------------------------------


class FlakyProjection:
    """Fails on every batch until ``fixed``; counts its failures."""

    name = "flaky"

    def __init__(self) -> None:
        self.fixed = False
        self.failures = 0
        self.failed_twice = asyncio.Event()

    async def apply(self, conn: AsyncConnection, changes: Sequence[OrderChange]) -> None:
        if not self.fixed:
            self.failures += 1
            if self.failures >= 2:
                self.failed_twice.set()
            raise ValueError("bad projection code")

    async def reset(self, conn: AsyncConnection) -> None:
        return None


async def test_a_failing_handler_blocks_with_its_error_then_resumes(
    pos: Pos, store: EventStore, engine: AsyncEngine, read_models: ReadModels
) -> None:
    flaky = FlakyProjection()
    handlers = (*default_projections(), flaky)
    projector = Projector(store, engine, handlers=handlers, retry_delay=0.001)
    await projector.start()
    try:
        order_id, _ = await pos.place("grill")
        await asyncio.wait_for(flaky.failed_twice.wait(), WAIT)  # the first error is recorded

        assert projector.position == 0
        assert projector.last_error is not None and "bad projection code" in projector.last_error
        errors = await read_models.errors()
        assert list(errors) == ["flaky"] and "bad projection code" in errors["flaky"]
        assert await read_models.get_order(order_id) is None  # rolled back with the batch

        flaky.fixed = True
        await settled(projector, pos)
    finally:
        await projector.stop()
    assert projector.last_error is None
    assert await read_models.errors() == {}
    assert await read_models.get_order(order_id) is not None


async def test_catch_up_raises_on_a_failing_handler_and_keeps_the_checkpoint(
    pos: Pos, store: EventStore, engine: AsyncEngine, read_models: ReadModels
) -> None:
    await pos.place("grill")
    projector = Projector(store, engine, handlers=(*default_projections(), FlakyProjection()))
    with pytest.raises(RuntimeError, match="flaky"):
        await projector.catch_up()
    assert await read_models.checkpoints() == {"flaky": 0}
