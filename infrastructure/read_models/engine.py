"""The SQLAlchemy async engine the read models and the projector share.

On SQLite (aiosqlite) SQLAlchemy, not the driver, emits ``BEGIN``: readers get a
real snapshot transaction (plain ``BEGIN``), and a connection given the
``write=True`` execution option takes the write lock up front
(``BEGIN IMMEDIATE``), so the projector waits on ``busy_timeout`` instead of
failing on a lock upgrade while the event store's writer commits.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

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


def _take_over_sqlite_transactions(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver emits no BEGIN of its own
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        # Read models are rebuildable and their checkpoint commits with them: NORMAL is enough.
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
