"""End-to-end fixtures: a migrated temporary SQLite file and a real uvicorn on a free port.

- ``database_url``: a fresh, migrated SQLite file in ``tmp_path``.
- ``live_server``: ``LiveServer`` (see ``tests/e2e/server.py``) serving ``create_app``
  on that file; stopped (graceful shutdown, lifespan closed) after the test.
- ``client``: an ``httpx.AsyncClient`` whose base URL is the live server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import LiveServer, migrated_database, server_settings


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return migrated_database(tmp_path / "orders.db")


@pytest.fixture
def live_server(database_url: str) -> Iterator[LiveServer]:
    with LiveServer(server_settings(database_url)) as server:
        yield server


@pytest.fixture
async def client(live_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_server.base_url, timeout=30) as http:
        yield http
