"""Alembic environment: runs the revisions on a synchronous SQLAlchemy engine.

The URL comes from ``sqlalchemy.url`` (set by ``infrastructure.migrations``) or from
``-x url=...`` on Alembic's command line; an async driver (``sqlite+aiosqlite``) is swapped
for the backend's default sync driver. On SQLite the whole upgrade runs in one
``BEGIN IMMEDIATE`` transaction, DDL included, so a failed or concurrent upgrade never
leaves half a schema behind.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection, create_engine, event, make_url, pool
from sqlalchemy.engine import URL


def _url() -> URL:
    raw = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option(
        "sqlalchemy.url"
    )
    if not raw:
        raise RuntimeError("no database URL: set sqlalchemy.url or pass -x url=...")
    url = make_url(raw)
    return url.set(drivername=url.get_backend_name())


def _sqlite_engine_hooks(engine: Any) -> None:
    # pysqlite starts transactions only before DML; take over so DDL is transactional too.
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA journal_mode=WAL")

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def run_offline(url: URL) -> None:
    context.configure(url=url, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online(url: URL) -> None:
    is_sqlite = url.get_backend_name() == "sqlite"
    engine = create_engine(url, poolclass=pool.NullPool)
    if is_sqlite:
        _sqlite_engine_hooks(engine)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                render_as_batch=is_sqlite,
                transactional_ddl=True,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline(_url())
else:
    run_online(_url())
