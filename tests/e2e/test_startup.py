"""Start-up and shutdown: the lifespan runs, bad settings and an unmigrated database stop it."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from infrastructure.settings import ENV_PREFIX
from interfaces.server import GC_THRESHOLDS
from tests.e2e.realtime_support import eventually
from tests.e2e.server import (
    LiveServer,
    ServerStartError,
    database_url,
    free_port,
    migrated_database,
    server_settings,
)

CLI = Path(sys.executable).with_name("order-service")


def run_cli(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    return subprocess.run(
        [str(CLI), *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_lifespan_starts_and_stops_everything(database_url: str, tmp_path: Path) -> None:
    server = LiveServer(server_settings(database_url))
    with server:
        ready = httpx.get(server.url("/health/ready"))
        assert ready.status_code == 200, ready.text
        assert ready.json()["projector"]["running"] is True
        placed = httpx.post(server.url("/api/orders"), json={"order_type": "takeout"})
        assert placed.status_code == 201
        assert httpx.get(server.url("/health")).json() == {"status": "ok"}
    # Shutdown ran: every connection to the file is closed (SQLite removes the WAL on the
    # last close) and nobody listens on the port any more.
    assert not (tmp_path / "orders.db-wal").exists()
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url("/health"))
    with server:  # and it starts again on the same file
        assert httpx.get(server.url("/api/events")).json()["head"] == 1


def test_invalid_setting_stops_the_cli_naming_the_variable(tmp_path: Path) -> None:
    env = {
        f"{ENV_PREFIX}DATABASE_URL": database_url(tmp_path / "x.db"),
        f"{ENV_PREFIX}BUSINESS_DAY_START_HOUR": "99",
    }
    result = run_cli("serve", "--port", str(free_port()), env=env)
    assert result.returncode != 0
    assert f"{ENV_PREFIX}BUSINESS_DAY_START_HOUR" in result.stderr
    env[f"{ENV_PREFIX}BUSINESS_DAY_START_HOUR"] = "4"
    env[f"{ENV_PREFIX}BUSINESS_DAY_TIMEZONE"] = "Mars/Olympus"
    zone = run_cli("db", "current", env=env)
    assert zone.returncode != 0
    assert f"{ENV_PREFIX}BUSINESS_DAY_TIMEZONE" in zone.stderr


def test_unmigrated_database_is_refused_with_the_upgrade_hint(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = database_url(tmp_path / "fresh.db")
    result = run_cli("serve", "--port", str(free_port()), env={f"{ENV_PREFIX}DATABASE_URL": url})
    assert result.returncode == 1
    assert "order-service db upgrade" in result.stderr

    # The lifespan refuses too, whoever runs the app (uvicorn --factory, tests).
    with caplog.at_level(logging.ERROR), pytest.raises(ServerStartError):
        LiveServer(server_settings(url)).start()
    assert "order-service db upgrade" in caplog.text


def test_db_upgrade_then_current_through_the_cli(tmp_path: Path) -> None:
    env = {f"{ENV_PREFIX}DATABASE_URL": database_url(tmp_path / "var" / "cli.db")}
    before = run_cli("db", "current", env=env)
    assert before.returncode == 0 and "unmigrated" in before.stdout
    upgraded = run_cli("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    after = run_cli("db", "current", env=env)
    assert "up to date" in after.stdout


@pytest.mark.anyio
async def test_serve_tunes_the_collector_and_freezes_what_startup_left(tmp_path: Path) -> None:
    """``order-service serve`` sets the serving GC thresholds and moves the objects alive
    at startup (modules, the app) into the permanent generation; /api/_runtime says so."""
    env = {f"{ENV_PREFIX}DATABASE_URL": migrated_database(tmp_path / "gc.db")}
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    process = await asyncio.create_subprocess_exec(
        str(CLI),
        "serve",
        "--port",
        str(port),
        env={**clean, **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    runtime: dict[str, Any] = {}
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:

            async def answered() -> bool:
                assert process.returncode is None, "order-service serve exited"
                try:
                    runtime.update((await http.get("/api/_runtime")).json())
                except httpx.TransportError:
                    return False
                return True

            await eventually(answered, timeout=60, what="order-service serve to answer")
        assert runtime["pid"] == process.pid
        assert runtime["gc"]["thresholds"] == list(GC_THRESHOLDS)
        assert runtime["gc"]["frozen"] > 10_000, runtime["gc"]
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)
