"""Runs the Alembic migrations in ``migrations/`` from code, and guards the start-up.

``upgrade`` brings a database to a revision (creating an SQLite file's directory first),
``current``/``head`` say where the database and the code are, and ``check_schema`` refuses
a database the code cannot work with: unmigrated or behind (run ``order-service db
upgrade``) or migrated past what this code knows.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import create_engine, make_url, pool
from sqlalchemy.engine import URL

UPGRADE_HINT = "run `order-service db upgrade`"


class SchemaNotReady(RuntimeError):
    """The database's schema is not the one this code needs; the message says what to do."""


def upgrade(database_url: str, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (idempotent: a database already there is left alone)."""
    url = sync_url(database_url)
    path = sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(_config(url), revision)


def current(database_url: str) -> str | None:
    """The revision the database is at, or ``None`` for an unmigrated (or missing) database."""
    url = sync_url(database_url)
    path = sqlite_file(url)
    if path is not None and not path.exists():
        return None  # connecting would create an empty file as a side effect
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head() -> str:
    """The newest revision this code knows."""
    revision = _scripts().get_current_head()
    if revision is None:
        raise RuntimeError("the migrations package has no revisions")
    return revision


def check_schema(database_url: str) -> None:
    """Return if the database is at ``head()``; raise ``SchemaNotReady`` otherwise."""
    at, wanted = current(database_url), head()
    if at == wanted:
        return
    where = _describe(database_url)
    if at is None:
        raise SchemaNotReady(f"the database {where} has no schema yet; {UPGRADE_HINT}")
    try:
        _scripts().get_revision(at)
    except CommandError:
        raise SchemaNotReady(
            f"the database {where} is at revision {at!r}, which this version of "
            f"order-service does not know (its newest is {wanted!r}); it was migrated by a "
            "newer release: run that release or restore a backup, do not downgrade blindly"
        ) from None
    raise SchemaNotReady(
        f"the database {where} is at revision {at!r}, this code needs {wanted!r}; {UPGRADE_HINT}"
    )


def sync_url(database_url: str) -> URL:
    """The URL with its async driver (``+aiosqlite``) replaced by the backend's sync one."""
    url = make_url(database_url)
    return url.set(drivername=url.get_backend_name())


def sqlite_file(url: URL) -> Path | None:
    """The file of an SQLite URL; ``None`` for other backends and in-memory SQLite."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def _config(url: URL | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", _script_location())
    if url is not None:
        # ConfigParser interpolates '%': escape it (URL-encoded passwords contain it).
        rendered = url.render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def _script_location() -> str:
    # From the import system rather than a path relative to this file, so it works from
    # an installed wheel, an editable install (which may map it as a namespace) and any cwd.
    spec = importlib.util.find_spec("migrations")
    for entry in (spec.submodule_search_locations or []) if spec else []:
        if (Path(entry) / "env.py").is_file():
            return entry
    raise RuntimeError("the `migrations` package (with its env.py) is not importable")


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def _describe(database_url: str) -> str:
    url = make_url(database_url)
    path = sqlite_file(url)
    return f"file {str(path)!r}" if path is not None else url.render_as_string(hide_password=True)
