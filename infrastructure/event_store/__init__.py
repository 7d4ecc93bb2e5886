"""Event store adapters (in-memory, SQLite) and ``open_event_store``, which picks one by URL."""

from __future__ import annotations

from typing import Any

from domain.ports import EventStore
from infrastructure.event_store.memory import InMemoryEventStore
from infrastructure.event_store.sqlite import SqliteEventStore, Synchronous
from infrastructure.migrations import sqlite_file, sync_url

__all__ = ["InMemoryEventStore", "SqliteEventStore", "Synchronous", "open_event_store"]

# Tuning of the SQLite file; meaningless in memory, so one settings object can open either.
_SQLITE_ONLY = frozenset(
    {
        "synchronous",
        "poll_interval",
        "busy_timeout",
        "readers",
        "max_batch",
        "tail_size",
        "checkpoint_interval",
    }
)


async def open_event_store(url: str, **options: Any) -> EventStore:
    """Open the store a URL names: ``sqlite:///path/to.db`` (``sqlite+aiosqlite:///...``
    too; four slashes for an absolute path) or ``memory://``.

    ``options`` go to the adapter (``upcaster`` for both; ``synchronous``,
    ``poll_interval``, ``busy_timeout``, ``readers``, ``max_batch``, ``tail_size``,
    ``checkpoint_interval`` for
    SQLite, which the in-memory store ignores).
    """
    scheme = url.partition(":")[0].lower()
    if scheme == "memory":
        return InMemoryEventStore(**{k: v for k, v in options.items() if k not in _SQLITE_ONLY})
    if scheme.partition("+")[0] == "sqlite":
        path = sqlite_file(sync_url(url))
        if path is None:
            raise ValueError(
                f"{url!r}: an in-memory SQLite database cannot be shared by the writer and "
                "reader connections; use a file path or memory://"
            )
        return await SqliteEventStore.open(path, **options)
    raise ValueError(
        f"unsupported event store URL scheme {scheme!r} in {url!r}: use sqlite:///path/to.db "
        "or memory:// (PostgreSQL is not supported yet)"
    )
