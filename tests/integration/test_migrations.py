"""Alembic migrations through ``infrastructure.migrations`` on real SQLite files."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from infrastructure.event_store.sqlite import SqliteEventStore
from infrastructure.migrations import (
    SchemaNotReady,
    check_schema,
    current,
    head,
    upgrade,
)

UPGRADE_HINT = "order-service db upgrade"


@contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        yield conn


def names(path: Path, kind: str) -> set[str]:
    with connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = ?", (kind,))
        return {name for (name,) in rows}


def test_upgrade_creates_the_event_store_schema_and_its_directory(tmp_path: Path) -> None:
    path = tmp_path / "var" / "data" / "orders.db"
    url = f"sqlite+aiosqlite:///{path}"

    upgrade(url)

    assert {"events", "idempotency_keys", "alembic_version"} <= names(path, "table")
    assert {"events_no_update", "events_no_delete"} <= names(path, "trigger")
    assert current(url) == head()
    check_schema(url)
    with connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_the_first_revision_is_the_event_store(tmp_path: Path) -> None:
    path = tmp_path / "orders.db"
    url = f"sqlite:///{path}"

    upgrade(url, "0001_event_store")

    assert current(url) == "0001_event_store"
    assert {"events", "idempotency_keys"} <= names(path, "table")


def test_upgrade_is_idempotent_and_keeps_the_data(tmp_path: Path) -> None:
    path = tmp_path / "orders.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    with connect(path) as conn:
        conn.execute(
            "INSERT INTO events (stream_id, stream_version, event_id, type, schema_version, "
            "data, metadata, recorded_at) VALUES ('s', 1, 'e1', 'T', 1, '{}', '{}', 'now')"
        )

    upgrade(url)
    upgrade(url, "head")

    assert current(url) == head()
    with connect(path) as conn:
        assert conn.execute("SELECT position, event_id FROM events").fetchall() == [(1, "e1")]


def test_events_are_append_only_in_the_database(tmp_path: Path) -> None:
    path = tmp_path / "orders.db"
    upgrade(f"sqlite:///{path}")
    with connect(path) as conn:
        conn.execute(
            "INSERT INTO events (stream_id, stream_version, event_id, type, schema_version, "
            "data, metadata, recorded_at) VALUES ('s', 1, 'e1', 'T', 1, '{}', '{}', 'now')"
        )
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE events SET data = '{\"x\": 1}'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM events")
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (1,)


def test_check_schema_refuses_a_missing_or_empty_database(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    with pytest.raises(SchemaNotReady, match=UPGRADE_HINT):
        check_schema(f"sqlite:///{missing}")
    assert current(f"sqlite:///{missing}") is None
    assert not missing.exists()  # looking does not create the file

    empty = tmp_path / "empty.db"
    with connect(empty) as conn:
        conn.execute("CREATE TABLE unrelated (x)")
    with pytest.raises(SchemaNotReady, match="no schema yet.*" + UPGRADE_HINT):
        check_schema(f"sqlite+aiosqlite:///{empty}")


def test_check_schema_refuses_a_database_from_newer_code(tmp_path: Path) -> None:
    path = tmp_path / "orders.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    with connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0999_from_the_future'")

    with pytest.raises(SchemaNotReady, match=r"'0999_from_the_future'.*does not know") as caught:
        check_schema(url)
    assert UPGRADE_HINT not in str(caught.value)


def test_check_schema_refuses_a_database_behind_the_code(tmp_path: Path) -> None:
    if head() == "0001_event_store":
        pytest.skip("only one revision: no database can be behind yet")
    url = f"sqlite:///{tmp_path / 'orders.db'}"
    upgrade(url, "0001_event_store")

    with pytest.raises(SchemaNotReady, match="'0001_event_store'.*" + UPGRADE_HINT):
        check_schema(url)
    upgrade(url)
    check_schema(url)


def test_a_relative_url_works_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    upgrade("sqlite:///relative/orders.db")

    assert "events" in names(tmp_path / "relative" / "orders.db", "table")
    check_schema("sqlite:///relative/orders.db")


@pytest.mark.anyio
async def test_the_sqlite_store_refuses_an_unmigrated_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    with connect(empty) as conn:
        conn.execute("CREATE TABLE unrelated (x)")

    with pytest.raises(SchemaNotReady, match=UPGRADE_HINT):
        await SqliteEventStore.open(empty)
    with pytest.raises(SchemaNotReady, match=UPGRADE_HINT):
        await SqliteEventStore.open(tmp_path / "missing.db")
    assert not (tmp_path / "missing.db").exists()
