"""Helpers for the replay suites (``test_replay_*.py``, ``tests/e2e/test_cli_*.py``); no tests.

``seed`` writes a small but varied restaurant history through the real ``OrderService``
on the real SQLite store (fired and open orders, bumps, a recall, a void, a discard, a
cancellation, two business days); ``write_random_history`` a longer, seeded random one
decided by the real decider (every command, streams written the old way, metadata without
``occurred_at`` or in another zone, events after an order was completed); ``project``
brings the read models up to date with the real projector; ``cli`` runs the real
``order-service`` app on a store file; ``read_model_rows`` dumps the read-model tables for
row-by-row comparisons.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from domain.codec import to_new_event
from domain.commands import (
    AddItems,
    BumpItem,
    ChangeItem,
    ChangeOrderDetails,
    ChangeStatus,
    Command,
    DiscardOrder,
    FireItems,
    HoldItems,
    PlaceOrder,
    RecallItem,
    RemoveItem,
    VoidItem,
)
from domain.decider import decide, evolve
from domain.errors import DomainError
from domain.events import Event, ItemsFired, ItemSpec, OrderDetailsChanged, OrderStatusChanged
from domain.handlers import CommandContext, OrderService
from domain.model import FINAL_STATUSES as FINAL
from domain.model import ItemStatus, Order, OrderStatus, OrderType
from domain.ports import ANY, JSON
from infrastructure.event_store import open_event_store
from infrastructure.migrations import upgrade
from infrastructure.projector import Projector
from infrastructure.read_models import create_engine
from infrastructure.read_models.tables import READ_MODEL_TABLES
from interfaces.cli import app
from tests.integration.test_projector import StepClock

DAY = "2026-11-25"
NEXT_DAY = "2026-11-26"
ENV = "ORDER_SERVICE_DATABASE_URL"


def migrated(path: Path) -> str:
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    return url


def cli(url: str, *args: str) -> Result:
    """``order-service ARGS`` in this process, on the store ``url``."""
    return CliRunner().invoke(app, list(args), env={ENV: url}, catch_exceptions=False)


class CountingIds:
    """Ids ``<prefix>-00001``, ``<prefix>-00002``…: two histories in one store need two prefixes."""

    def __init__(self, prefix: str = "id") -> None:
        self._ids = itertools.count(1)
        self._prefix = prefix

    def new_id(self) -> str:
        return f"{self._prefix}-{next(self._ids):05d}"


@dataclass
class Pos:
    """A till on the domain service; remembers what it placed."""

    service: OrderService
    orders: list[str] = field(default_factory=list)
    ctx: CommandContext = field(default_factory=lambda: CommandContext("pos-1", "corr-1"))

    async def run(self, command: Command) -> int:
        result = await self.service.execute(command, self.ctx)
        assert result.position is not None
        return result.position

    async def place(
        self, *stations: str, day: str = DAY, fire: bool = True
    ) -> tuple[str, list[str]]:
        order_id = self.service.new_order_id()
        items = tuple(spec(self.service.new_item_id(), s) for s in stations)
        await self.run(PlaceOrder(order_id, day, OrderType.DINE_IN, items, 7, 2, None, fire))
        self.orders.append(order_id)
        return order_id, [i.item_id for i in items]


def spec(item_id: str, station: str) -> ItemSpec:
    return ItemSpec(
        item_id, f"m-{station}", f"{station} dish", 2, 575, ("no onion",), None, station
    )


async def write_history(url: str, *, rounds: int = 1, prefix: str = "id") -> list[str]:
    """A varied history (25 events per round); the ids of the orders placed."""
    store = await open_event_store(url)
    try:
        pos = Pos(OrderService(store, StepClock(), CountingIds(prefix)))
        for _ in range(rounds):
            await _one_round(pos)
        return pos.orders
    finally:
        await store.close()


async def _one_round(pos: Pos) -> None:
    served, (burger, beer) = await pos.place("grill", "bar")
    await pos.run(BumpItem(served, burger))
    await pos.run(BumpItem(served, beer))
    await pos.run(RecallItem(served, beer))
    await pos.run(BumpItem(served, beer))
    await pos.run(ChangeStatus(served, OrderStatus.SERVED))
    await pos.run(ChangeStatus(served, OrderStatus.COMPLETED))
    voided, (soup,) = await pos.place("salad")
    await pos.run(AddItems(voided, (spec(pos.service.new_item_id(), "grill"),), fire=True))
    await pos.run(VoidItem(voided, soup, "86'd"))
    open_order, _ = await pos.place("grill", fire=False)
    await pos.run(DiscardOrder(open_order))
    cancelled, _ = await pos.place("fry")
    await pos.run(ChangeStatus(cancelled, OrderStatus.CANCELLED, "guest left"))
    for station in ("grill", "bar"):
        await pos.place(station, day=NEXT_DAY)


async def write_random_history(url: str, *, events: int, seed: int = 1) -> None:
    """About ``events`` events of a seeded random restaurant, appended to the real store.

    Each step is a random command on a random order (a new one an eighth of the time),
    decided by the real decider (refused ones are skipped), over three business days. Some
    firings of an open order are followed by the explicit ``OrderStatusChanged`` open->sent
    older code wrote; some events have no ``occurred_at`` (the recorded time stands in) or
    one in UTC+2; now and then a completed order gets a details change appended (an old
    stream's kind: the fold must find the order again after it was done).
    """
    rng = random.Random(seed)
    store = await open_event_store(url)
    orders: dict[str, Order] = {}
    at = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)
    ids = itertools.count(1)

    def new_id() -> str:
        return f"r{seed}-{next(ids):06d}"

    written = 0
    try:
        while written < events:
            at += timedelta(seconds=rng.randint(1, 400))
            live = [o for o in orders.values() if not o.discarded and o.status not in FINAL]
            if live and rng.random() < 0.02:  # a done order, now and then
                live = [o for o in orders.values() if o.status is OrderStatus.COMPLETED] or live
            if not live or rng.random() < 0.12:
                command: Command = _random_placement(rng, new_id, at)
                state = None
            else:
                state = rng.choice(live)
                command = _random_command(rng, state, new_id)
            try:
                decided: list[Event] = decide(state, command)
            except DomainError:
                if state is None or state.status is not OrderStatus.COMPLETED:
                    continue
                decided = [OrderDetailsChanged(state.order_id, ("notes",), notes="late note")]
            if not decided:
                continue
            old_way = [
                OrderStatusChanged(e.order_id, OrderStatus.OPEN, OrderStatus.SENT)
                for e in decided
                if isinstance(e, ItemsFired)
                if (state is None or state.status is OrderStatus.OPEN) and rng.random() < 0.5
            ]
            decided = [*decided, *old_way]
            order_id = decided[0].order_id
            await store.append(
                order_id,
                [to_new_event(e, new_id(), _random_metadata(rng, at)) for e in decided],
                ANY,
            )
            folded = orders.get(order_id)
            for event in decided:
                folded = evolve(folded, event)
            assert folded is not None
            orders[order_id] = folded
            written += len(decided)
    finally:
        await store.close()


def _random_metadata(rng: random.Random, at: datetime) -> JSON:
    metadata: JSON = {"actor": "pos-1", "correlation_id": "c", "causation_id": None}
    draw = rng.random()
    if draw < 0.1:
        return metadata  # no occurred_at: the recorded time stands in
    zone = timezone(timedelta(hours=2)) if draw < 0.2 else UTC
    return {**metadata, "occurred_at": at.astimezone(zone).isoformat()}


_DAYS = ("2026-11-25", "2026-11-26", "2026-11-27")
_STATIONS = ("grill", "bar", "fry", None)


def _random_placement(rng: random.Random, new_id: Any, at: datetime) -> PlaceOrder:
    kind = rng.choice(list(OrderType))
    table = rng.randint(1, 30) if kind is OrderType.DINE_IN else None
    items = tuple(_random_spec(rng, new_id()) for _ in range(rng.randint(0, 4)))
    notes = rng.choice((None, "allergy: nuts"))
    fire = rng.random() < 0.7
    return PlaceOrder(new_id(), rng.choice(_DAYS), kind, items, table, 2, notes, fire)


def _random_spec(rng: random.Random, item_id: str) -> ItemSpec:
    station = rng.choice(_STATIONS)
    modifiers = tuple(rng.sample(("no onion", "extra cheese", "well done"), rng.randint(0, 2)))
    return ItemSpec(
        item_id, f"m-{station}", f"{station} dish", rng.randint(1, 3), 450, modifiers, None, station
    )


def _random_command(rng: random.Random, order: Order, new_id: Any) -> Command:
    oid = order.order_id
    by_status: dict[ItemStatus, list[str]] = {}
    for line in order.items:
        by_status.setdefault(line.status, []).append(line.item_id)

    def some(*statuses: ItemStatus) -> str:
        ids = [i for s in statuses for i in by_status.get(s, [])]
        return rng.choice(ids) if ids else "missing"

    options: list[Command] = [
        BumpItem(oid, some(ItemStatus.SENT)),
        BumpItem(oid, some(ItemStatus.SENT)),
        BumpItem(oid, some(ItemStatus.SENT)),
        RecallItem(oid, some(ItemStatus.READY)),
        VoidItem(oid, some(ItemStatus.SENT, ItemStatus.READY), "86'd"),
        FireItems(oid),
        HoldItems(oid, release=rng.random() < 0.5),
        AddItems(oid, (_random_spec(rng, new_id()),), fire=rng.random() < 0.5),
        ChangeItem(oid, some(ItemStatus.NEW, ItemStatus.HELD), ("quantity",), quantity=3),
        RemoveItem(oid, some(ItemStatus.NEW, ItemStatus.HELD)),
        ChangeOrderDetails(oid, ("guest_count", "notes"), guest_count=4, notes="window"),
        ChangeStatus(oid, OrderStatus.PREPARING),
        ChangeStatus(oid, OrderStatus.READY),
        ChangeStatus(oid, OrderStatus.SERVED),
        ChangeStatus(oid, OrderStatus.SERVED),
        ChangeStatus(oid, OrderStatus.COMPLETED),
        ChangeStatus(oid, OrderStatus.COMPLETED),
        ChangeStatus(oid, OrderStatus.CANCELLED, "guest left"),
        DiscardOrder(oid),
    ]
    return rng.choice(options)


def seed(url: str, *, rounds: int = 1, prefix: str = "id") -> list[str]:
    """``write_history`` then ``project``, from synchronous code."""

    async def both() -> list[str]:
        orders = await write_history(url, rounds=rounds, prefix=prefix)
        await project(url)
        return orders

    return asyncio.run(both())


async def project(url: str) -> int:
    """Bring the read models up to the head with the real projector (as a server would)."""
    store = await open_event_store(url)
    engine = create_engine(url)
    try:
        return await Projector(store, engine).catch_up()
    finally:
        await engine.dispose()
        await store.close()


def db_path(url: str) -> Path:
    return Path(url.partition(":///")[2])


def read_model_rows(path: Path, tables: Sequence[str] | None = None) -> dict[str, list[Any]]:
    """Every row of every read-model table (checkpoint timestamps left out), sorted."""
    names = tables or [t.name for t in READ_MODEL_TABLES]
    conn = sqlite3.connect(path)
    try:
        rows = {}
        for name in names:
            columns = "name, position, last_error" if name == "projection_checkpoints" else "*"
            rows[name] = sorted(conn.execute(f'SELECT {columns} FROM "{name}"').fetchall())
        return rows
    finally:
        conn.close()


def table_names(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return sorted(
            n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        )
    finally:
        conn.close()


def index_names(path: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(path)
    try:
        query = "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' ORDER BY name"
        return list(conn.execute(query).fetchall())
    finally:
        conn.close()
