"""The server stops while commands flow and starts again: the read models resume from their
checkpoints and end up equal, row by row, to read models rebuilt from zero."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from infrastructure.event_store import open_event_store
from infrastructure.projector import rebuild
from infrastructure.read_models import create_engine
from tests.e2e.orders import item, new_order, ok
from tests.e2e.server import LiveServer, migrated_database, server_settings

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

POSTERS = 6
BEFORE_STOP = 30
TOTAL = 70

READ_MODEL_TABLES = {
    "order_views": "id",
    "kitchen_tickets": "order_id",
    "kitchen_ticket_items": "order_id, item_id",
    "order_number_counters": "business_day",
}


class Load:
    """POS terminals placing and bumping orders until told to stop; they ride out a restart."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.placed = 0
        self.cut_off = 0
        self.enough_before_stop = asyncio.Event()
        self.restarted = asyncio.Event()
        self.finished = asyncio.Event()

    async def terminal(self, n: int) -> None:
        async with httpx.AsyncClient(base_url=self.server.base_url, timeout=30) as http:
            while not self.finished.is_set():
                try:
                    await self.one_order(http, n)
                except httpx.TransportError:
                    self.cut_off += 1
                    await self.restarted.wait()

    async def one_order(self, http: httpx.AsyncClient, n: int) -> None:
        body = new_order(item("Burger"), item("Beer", station="bar"), table_number=n + 1)
        placed = ok(await http.post("/api/orders", json=body), 201)["order"]
        burger = placed["items"][0]["id"]
        ok(await http.post(f"/api/orders/{placed['id']}/items/{burger}/bump"))
        self.placed += 1
        if self.placed >= BEFORE_STOP:
            self.enough_before_stop.set()
        if self.placed >= TOTAL:
            self.finished.set()


async def test_read_models_resume_after_restart_and_equal_a_rebuild(tmp_path: Path) -> None:
    url = migrated_database(tmp_path / "orders.db")
    server = LiveServer(server_settings(url)).start()
    load = Load(server)
    try:
        terminals = [asyncio.create_task(load.terminal(n)) for n in range(POSTERS)]
        await asyncio.wait_for(load.enough_before_stop.wait(), 60)
        await asyncio.to_thread(server.stop)  # graceful: in-flight commands finish first
        stopped_at = checkpoints(tmp_path / "orders.db"), head(tmp_path / "orders.db")
        await asyncio.to_thread(server.start)
        load.restarted.set()
        await asyncio.wait_for(asyncio.gather(*terminals), 120)
        # Every terminal's last command waited for its position: the projector is at head.
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            ready = ok(await http.get("/health/ready"))
        assert ready["projector"]["lag"] == 0
    finally:
        await asyncio.to_thread(server.stop)

    assert load.cut_off > 0, "terminals were sending while the server was down"
    positions, head_at_stop = stopped_at
    assert 0 < min(positions.values()) <= head_at_stop
    final_head = head(tmp_path / "orders.db")
    assert final_head > head_at_stop, "commands went on after the restart"
    assert set(checkpoints(tmp_path / "orders.db").values()) == {final_head}

    rebuilt = tmp_path / "rebuilt.db"
    await rebuild_read_models(events_from=url, into=migrated_database(rebuilt))
    for table, key in READ_MODEL_TABLES.items():
        resumed, fresh = rows(tmp_path / "orders.db", table, key), rows(rebuilt, table, key)
        assert resumed == fresh, f"{table} differs from a rebuild"
        assert resumed, f"{table} is empty"
    assert checkpoints(rebuilt) == checkpoints(tmp_path / "orders.db")


async def rebuild_read_models(*, events_from: str, into: str) -> None:
    store = await open_event_store(events_from)
    engine = create_engine(into)
    try:
        await rebuild(store, engine)
    finally:
        await engine.dispose()
        await store.close()


def rows(path: Path, table: str, key: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT * FROM {table} ORDER BY {key}").fetchall()


def checkpoints(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT name, position FROM projection_checkpoints").fetchall())


def head(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()[0])
