"""The SQLAlchemy async engine the read models and the projector share.

On SQLite (aiosqlite) SQLAlchemy, not the driver, emits ``BEGIN``: readers get a
real snapshot transaction (plain ``BEGIN``), and a connection given the
``write=True`` execution option takes the write lock up front
(``BEGIN IMMEDIATE``), so the projector waits on ``busy_timeout`` instead of
failing on a lock upgrade while the event store's writer commits.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

WRITE_OPTION = "write"
"""Execution option: ``conn.execution_options(write=True)`` before the first statement."""


def create_engine(url: str, *, busy_timeout_ms: int = 10_000, **kwargs: Any) -> AsyncEngine:
    """An async engine on ``url``; a plain ``sqlite://`` URL is served by aiosqlite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(parsed, **kwargs)
    if parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    engine = create_async_engine(parsed, **kwargs)
    _take_over_sqlite_transactions(engine, busy_timeout_ms)
    return engine


def sqlite_writer_engine(
    engine: AsyncEngine, *, busy_timeout_ms: int = 10_000, autocheckpoint: bool = True
) -> Engine | None:
    """A synchronous (stdlib ``sqlite3``) engine on the same SQLite file as ``engine``, with
    one connection whose every transaction is ``BEGIN IMMEDIATE``; None unless ``engine`` is
    on an SQLite file.

    For the projector: it runs a whole write transaction in one call on its own thread (one
    thread hop per batch instead of one per statement), so it holds the write lock only for
    the time the statements take, never while the event loop serves other work.
    ``autocheckpoint=False``: its commits leave WAL checkpoints to someone else (the event
    store's checkpointer thread).
    """
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    sync = create_sync_engine(
        url.set(drivername="sqlite"),
        poolclass=StaticPool,
        connect_args={"check_same_thread": False},
    )
    _take_over_sqlite_transactions(
        sync, busy_timeout_ms, always_write=True, autocheckpoint=autocheckpoint
    )
    return sync


def _take_over_sqlite_transactions(
    engine: AsyncEngine | Engine,
    busy_timeout_ms: int,
    *,
    always_write: bool = False,
    autocheckpoint: bool = True,
) -> None:
    target = engine.sync_engine if isinstance(engine, AsyncEngine) else engine

    @event.listens_for(target, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver emits no BEGIN of its own
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        # Read models are rebuildable and their checkpoint commits with them: NORMAL is enough.
        cursor.execute("PRAGMA synchronous = NORMAL")
        if not autocheckpoint:
            cursor.execute("PRAGMA wal_autocheckpoint = 0")
        cursor.close()

    @event.listens_for(target, "begin")
    def _begin(conn: Connection) -> None:
        write = always_write or conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
