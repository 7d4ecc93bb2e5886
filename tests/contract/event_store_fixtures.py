"""Opens each ``EventStore`` adapter the contract suite runs against, fresh for every test.

A new adapter (PostgreSQL) joins the suite by adding its name to ``ADAPTERS`` and a branch
in ``opened_store``. Integration tests reuse ``migrated_url`` and ``new_event``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from uuid import uuid4

from domain.ports import JSON, EventStore, NewEvent, Upcaster
from infrastructure.event_store import open_event_store
from infrastructure.migrations import upgrade

ADAPTERS = ("memory", "sqlite")

# Long enough that a test passing within it proves the in-process wake-up, not the poll.
CONTRACT_POLL_INTERVAL = 30.0


def migrated_url(directory: Path, name: str = "events.db") -> str:
    """The URL of a new SQLite file in ``directory``, migrated to head."""
    url = f"sqlite+aiosqlite:///{directory / name}"
    upgrade(url)
    return url


def new_event(
    type_: str = "Tested", data: JSON | None = None, schema_version: int = 1, **metadata: Any
) -> NewEvent:
    return NewEvent(str(uuid4()), type_, data or {}, metadata, schema_version)


@asynccontextmanager
async def opened_store(
    adapter: str, directory: Path, *, upcaster: Upcaster | None = None
) -> AsyncIterator[EventStore]:
    if adapter == "memory":
        url = "memory://"
    elif adapter == "sqlite":
        url = migrated_url(directory)
    else:
        raise ValueError(f"unknown adapter {adapter!r}")
    store = await open_event_store(url, upcaster=upcaster, poll_interval=CONTRACT_POLL_INTERVAL)
    try:
        yield store
    finally:
        await store.close()
