"""The operations CLI beside a real server: an online rebuild under command load, a
re-broadcast to a live screen, and Ctrl-C in the middle of a rebuild.

The CLI runs as its own process (``order-service`` from the venv), as an operator runs
it; the server is the real uvicorn app (``LiveServer``); screens are real Socket.IO
clients.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import stat
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import socketio

from infrastructure.replay.token import token_file
from tests.e2e.orders import item, new_order, ok
from tests.e2e.server import LiveServer, free_port, migrated_database, server_settings
from tests.integration.replay_support import (
    db_path,
    read_model_rows,
    table_names,
    write_history,
)

pytestmark = pytest.mark.anyio

CLI = str(Path(sys.executable).with_name("order-service"))


async def spawn(url: str, *args: str) -> asyncio.subprocess.Process:
    """``order-service ARGS`` started in its own process on the store ``url``."""
    return await asyncio.create_subprocess_exec(
        CLI,
        *args,
        env={**os.environ, "ORDER_SERVICE_DATABASE_URL": url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def order_service(url: str, *args: str) -> tuple[int, bytes]:
    """Run ``order-service ARGS`` in its own process; its exit code and stdout."""
    process = await spawn(url, *args)
    out, err = await process.communicate()
    assert process.returncode is not None
    if process.returncode not in (0, 1):
        print(err.decode(), file=sys.stderr)
    return process.returncode, out


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``check`` until it holds (fails after ``timeout`` seconds)."""
    async with asyncio.timeout(timeout):
        while True:
            if check():
                return
            await asyncio.sleep(0.01)


class Screen:
    """A Socket.IO client in the ``orders`` room that records the positions pushed to it."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.sio = socketio.AsyncClient(reconnection=False, handle_sigint=False)
        self.positions: list[int] = []
        self.joined_at = 0
        self.sio.on("*", self._record)

    async def _record(self, event: str, payload: Any) -> None:
        if isinstance(payload, dict) and "event_id" in payload:
            self.positions.append(payload["position"])

    async def __aenter__(self) -> Screen:
        await self.sio.connect(self.base_url, transports=["websocket"])
        ack = await self.sio.call("join:orders", {}, timeout=10)
        assert ack["ok"], ack
        self.joined_at = ack["position"]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.sio.disconnect()

    async def until(self, position: int) -> None:
        await eventually(lambda: bool(self.positions) and self.positions[-1] >= position)

    async def received(self, count: int) -> None:
        await eventually(lambda: len(self.positions) >= count)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return migrated_database(tmp_path / "orders.db")


@pytest.fixture
async def server(url: str) -> AsyncIterator[LiveServer]:
    live = LiveServer(server_settings(url))
    await asyncio.to_thread(live.start)
    try:
        yield live
    finally:
        await asyncio.to_thread(live.stop)


async def caught_up(http: httpx.AsyncClient) -> int:
    """Wait until the server's projector has applied every event; the head."""
    async with asyncio.timeout(10):
        while True:
            ready = ok(await http.get("/health/ready"))["projector"]
            if ready["lag"] == 0:
                return int(ready["head"])
            await asyncio.sleep(0.02)


class Load:
    """POS terminals placing orders and bumping their first item until told to stop."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.versions: dict[str, int] = {}
        self.stop = asyncio.Event()

    async def terminal(self, n: int) -> None:
        while not self.stop.is_set():
            body = new_order(item("Burger"), item("Beer", station="bar"), table_number=n)
            placed = ok(await self.http.post("/api/orders", json=body), 201)["order"]
            self.versions[placed["id"]] = placed["version"]
            path = f"/api/orders/{placed['id']}/items/{placed['items'][0]['id']}/bump"
            self.versions[placed["id"]] = ok(await self.http.post(path))["order"]["version"]

    async def orders(self, count: int) -> None:
        await eventually(lambda: len(self.versions) >= count, timeout=20)


async def test_online_rebuild_under_load_loses_nothing(url: str, server: LiveServer) -> None:
    async with (
        httpx.AsyncClient(base_url=server.base_url, timeout=30) as http,
        Screen(server.base_url) as screen,
    ):
        load = Load(http)
        terminals = [asyncio.create_task(load.terminal(n)) for n in range(1, 5)]
        try:
            await load.orders(30)
            code, out = await order_service(
                url, "projections", "rebuild", "--batch-size", "20", "--json"
            )
            at_swap = len(load.versions)
            await load.orders(at_swap + 10)  # commands keep working after the swap
        finally:
            load.stop.set()
            await asyncio.gather(*terminals)
        head = await caught_up(http)
        await screen.until(head)

        assert code == 0, out
        result = orjson.loads(out)
        assert result["generation"] == 1 and 0 < result["position"] < head
        assert screen.positions == list(range(screen.joined_at + 1, head + 1)), (
            "the screen got every event once, in order, across the swap"
        )
        for order_id, version in load.versions.items():
            assert ok(await http.get(f"/api/orders/{order_id}"))["version"] == version
        status = ok(await http.get("/health/ready"))
        assert status["status"] == "ready" and status["detail"] is None

    code, out = await order_service(url, "store", "verify", "--json")
    assert code == 0, out
    report = orjson.loads(out)
    assert report["position"] == head and report["tables"]["order_views"] == len(load.versions)


async def test_rebroadcast_sends_a_range_to_live_screens_again(
    url: str, server: LiveServer
) -> None:
    async with (
        httpx.AsyncClient(base_url=server.base_url, timeout=30) as http,
        Screen(server.base_url) as screen,
    ):
        for n in (1, 2):
            ok(await http.post("/api/orders", json=new_order(table_number=n)), 201)
        head = await caught_up(http)
        await screen.until(head)
        assert screen.positions == list(range(1, head + 1))

        code, out = await order_service(
            url, "events", "rebroadcast", "--after", "1", "--until", "3",
            "--server", server.base_url, "--json",
        )  # fmt: skip
        assert code == 0, out
        assert orjson.loads(out)["events"] == 2
        await screen.received(head + 2)
        assert screen.positions == [*range(1, head + 1), 2, 3]

        file = token_file(url)
        assert file is not None and stat.S_IMODE(file.stat().st_mode) == 0o600
        wrong = await http.post(
            "/api/admin/rebroadcast", json={"after": 0, "until": 1}, headers={"X-Admin-Token": "x"}
        )
        assert wrong.status_code == 403
        assert "/api/admin/rebroadcast" not in ok(await http.get("/openapi.json"))["paths"]

    nobody = f"http://127.0.0.1:{free_port()}"
    code, _ = await order_service(
        url, "events", "rebroadcast", "--after", "0", "--until", "1", "--server", nobody
    )
    assert code == 3, "no server there: cannot reach it"


async def test_ctrl_c_during_a_rebuild_exits_130_and_changes_nothing(
    url: str, tmp_path: Path
) -> None:
    await write_history(url, rounds=25)
    path = db_path(url)
    with sqlite3.connect(path) as conn:  # damage the read models: they must stay damaged
        conn.execute("UPDATE projection_checkpoints SET position = 0")
    before = read_model_rows(path)
    process = await spawn(url, "projections", "rebuild", "--batch-size", "1")
    await eventually(lambda: any(t.startswith("_shadow_") for t in table_names(path)), 20)
    process.send_signal(signal.SIGINT)
    _, err = await process.communicate()

    assert process.returncode == 130, err
    assert b"interrupted" in err
    assert read_model_rows(path) == before
    assert not [t for t in table_names(path) if t.startswith(("_shadow_", "_retired_"))]


async def test_tail_follow_prints_events_appended_by_another_process(url: str) -> None:
    first = await write_history(url, prefix="a")
    process = await spawn(
        url, "events", "tail", "--follow", "--type", "OrderPlaced", "--limit", "2", "--json"
    )
    assert process.stdout is not None
    lines = [orjson.loads(await process.stdout.readline()) for _ in range(2)]
    assert [e["stream_id"] for e in lines] == first[-2:]

    later = await write_history(url, prefix="b")
    async with asyncio.timeout(10):
        for order_id in later:
            assert orjson.loads(await process.stdout.readline())["stream_id"] == order_id
    process.send_signal(signal.SIGINT)
    await process.communicate()
    assert process.returncode == 130
