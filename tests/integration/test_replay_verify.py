"""``verify_store`` on real SQLite files: a healthy store passes; each kind of damage is found."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from infrastructure.replay.verify import verify_store
from tests.integration.replay_support import (
    db_path,
    migrated,
    project,
    write_history,
    write_random_history,
)

pytestmark = pytest.mark.anyio

INSERT = (
    "INSERT INTO events (position, stream_id, stream_version, event_id, type, schema_version, "
    "data, metadata, recorded_at) VALUES (?, ?, ?, ?, ?, 1, ?, '{}', '2026-11-25T18:00:00+00:00')"
)


@pytest.fixture
async def url(tmp_path: Path) -> str:
    url = migrated(tmp_path / "orders.db")
    await write_history(url, rounds=2)
    await project(url)
    return url


def execute(url: str, sql: str, *parameters: object) -> None:
    with sqlite3.connect(db_path(url)) as conn:
        conn.execute(sql, parameters)


async def test_a_healthy_store_verifies(url: str) -> None:
    report = await verify_store(url)

    assert report.ok, report.differences
    assert report.events == report.head == report.position
    assert report.streams == 12
    assert set(report.tables) == {
        "order_views",
        "kitchen_tickets",
        "kitchen_ticket_items",
        "order_number_counters",
        "order_numbers",
    }


async def test_the_live_projectors_rows_verify_against_a_fresh_fold(tmp_path: Path) -> None:
    """The fresh fold is the rebuild's fast path: on a varied random history it must agree
    with every row the live projector wrote, batch after batch."""
    url = migrated(tmp_path / "random.db")
    await write_random_history(url, events=700, seed=5)
    await project(url)

    report = await verify_store(url, batch_size=9)

    assert report.ok, report.differences
    assert report.position == report.head and all(report.tables.values())


async def test_a_tampered_read_model_row_is_reported(url: str) -> None:
    execute(url, "UPDATE order_views SET table_number = 12 WHERE rowid = 2")
    execute(url, "DELETE FROM kitchen_ticket_items WHERE rowid = 1")

    report = await verify_store(url)

    assert not report.ok
    checks = sorted(d.check for d in report.differences)
    assert checks == ["kitchen_ticket_items", "order_views"]
    changed = next(d for d in report.differences if d.check == "order_views")
    assert "table_number is 12, the events say 7" in changed.detail
    missing = next(d for d in report.differences if d.check == "kitchen_ticket_items")
    assert "missing" in missing.detail


async def test_a_row_the_events_do_not_explain_is_reported(url: str) -> None:
    execute(url, "INSERT INTO order_number_counters VALUES ('2001-01-01', 3)")

    report = await verify_store(url)

    [difference] = report.differences
    assert difference.check == "order_number_counters"
    assert "business_day='2001-01-01'" in difference.where
    assert "not in a fresh fold" in difference.detail


async def test_gaps_and_undecodable_events_in_the_log_are_reported(url: str) -> None:
    with sqlite3.connect(db_path(url)) as conn:
        head = conn.execute("SELECT max(position) FROM events").fetchone()[0]
    execute(url, INSERT, head + 2, "stream-x", 2, "e-1", "OrderPlaced", '{"order_id": 1}')
    execute(url, INSERT, head + 3, "stream-y", 1, "e-2", "NoSuchEvent", "{}")

    report = await verify_store(url, read_models=False)

    found = {(d.check, d.where) for d in report.differences}
    assert ("positions", f"position {head + 2}") in found
    assert ("versions", "stream stream-x version 2") in found
    assert ("decode", f"position {head + 2} (OrderPlaced v1)") in found
    assert ("decode", f"position {head + 3} (NoSuchEvent v1)") in found
    assert report.position is None


async def test_lagging_projection_is_reported_not_compared(url: str) -> None:
    execute(url, "UPDATE projection_checkpoints SET position = position - 3 WHERE name = 'kitchen'")

    report = await verify_store(url)

    assert {d.where for d in report.differences if d.check == "checkpoints"} == {
        "kitchen_tickets",
        "kitchen_ticket_items",
    }
    assert "kitchen_tickets" not in report.tables


async def test_differences_beyond_the_limit_are_counted(url: str) -> None:
    execute(url, "UPDATE order_views SET version = version + 1")

    report = await verify_store(url, limit=2)

    assert len(report.differences) == 2 and report.more == report.found - 2 > 0
