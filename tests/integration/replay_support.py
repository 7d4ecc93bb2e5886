"""Helpers for the replay suites (``test_replay_*.py``, ``tests/e2e/test_cli_*.py``); no tests.

``seed`` writes a small but varied restaurant history through the real ``OrderService``
on the real SQLite store (fired and open orders, bumps, a recall, a void, a discard, a
cancellation, two business days); ``project`` brings the read models up to date with the
real projector; ``cli`` runs the real ``order-service`` app on a store file;
``read_model_rows`` dumps the read-model tables for row-by-row comparisons.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from domain.commands import (
    AddItems,
    BumpItem,
    ChangeStatus,
    Command,
    DiscardOrder,
    PlaceOrder,
    RecallItem,
    VoidItem,
)
from domain.events import ItemSpec
from domain.handlers import CommandContext, OrderService
from domain.model import OrderStatus, OrderType
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
