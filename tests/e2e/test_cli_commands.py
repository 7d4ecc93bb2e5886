"""The operations commands of the real ``order-service`` app on real store files: what they
print, what ``--json`` gives scripts, and the documented exit codes (0 ok, 1 a finding,
2 usage/settings, 3 no reachable or migrated database)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest

from tests.e2e.server import free_port
from tests.integration.replay_support import (
    cli,
    db_path,
    migrated,
    read_model_rows,
    seed,
    table_names,
)

NOBODY = f"http://127.0.0.1:{free_port()}"
"""A server URL nothing answers at (the in-place rebuild probes for a running server)."""


@pytest.fixture
def store(tmp_path: Path) -> tuple[str, list[str]]:
    url = migrated(tmp_path / "orders.db")
    return url, seed(url, rounds=2)


@pytest.fixture
def url(store: tuple[str, list[str]]) -> str:
    return store[0]


def json_lines(output: str) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in output.splitlines() if line.strip()]


def execute(url: str, sql: str) -> None:
    with sqlite3.connect(db_path(url)) as conn:
        conn.execute(sql)


def age_checkpoints(url: str) -> None:
    execute(url, "UPDATE projection_checkpoints SET updated_at = datetime('now', '-1 hour')")


# --- projections ---------------------------------------------------------------------------


def test_projections_status(url: str) -> None:
    execute(url, "UPDATE projection_checkpoints SET position = 5, last_error = 'boom' "
                 "WHERE name = 'kitchen'")  # fmt: skip
    result = cli(url, "projections", "status", "--json")
    assert result.exit_code == 0, result.output
    status = orjson.loads(result.output)
    by_name = {p["name"]: p for p in status["projections"]}
    assert by_name["kitchen"]["lag"] == status["head"] - 5
    assert by_name["kitchen"]["last_error"] == "boom"
    assert by_name["order_views"]["lag"] == 0

    table = cli(url, "projections", "status")
    assert table.exit_code == 0 and "kitchen" in table.output and "boom" in table.output


def test_projections_rebuild_online_and_in_place(url: str) -> None:
    before = read_model_rows(db_path(url), ["order_views", "kitchen_ticket_items"])
    execute(url, "DELETE FROM order_views")

    online = cli(url, "projections", "rebuild", "--json")
    assert online.exit_code == 0, online.output
    result = orjson.loads(online.output)
    assert result["generation"] == 1 and result["position"] == result["head"]
    assert read_model_rows(db_path(url), ["order_views", "kitchen_ticket_items"]) == before

    execute(url, "DELETE FROM kitchen_ticket_items")
    refused = cli(url, "projections", "rebuild", "kitchen", "--in-place", "--server", NOBODY)
    assert refused.exit_code == 1, "the swap just wrote checkpoints: a projector seems to run"
    assert "refusing to rebuild in place" in refused.output
    age_checkpoints(url)
    in_place = cli(url, "projections", "rebuild", "kitchen", "--in-place", "--server", NOBODY)
    assert in_place.exit_code == 0, in_place.output
    assert "rebuilt kitchen" in in_place.output
    assert read_model_rows(db_path(url), ["order_views", "kitchen_ticket_items"]) == before

    forced = cli(url, "projections", "rebuild", "--in-place", "--force", "--server", NOBODY)
    assert forced.exit_code == 0 and "warning" in forced.output
    assert cli(url, "projections", "rebuild", "nope").exit_code == 2


# --- events --------------------------------------------------------------------------------


def test_events_tail(url: str, store: tuple[str, list[str]]) -> None:
    last = cli(url, "events", "tail", "--limit", "3", "--json")
    assert last.exit_code == 0
    positions = [e["position"] for e in json_lines(last.output)]
    head = positions[-1]
    assert positions == [head - 2, head - 1, head]

    placed = json_lines(cli(url, "events", "tail", "--type", "OrderPlaced", "--json").output)
    assert [e["stream_id"] for e in placed] == store[1]
    mine = cli(url, "events", "tail", "--stream", store[1][0], "--after", "0", "--json")
    assert {e["stream_id"] for e in json_lines(mine.output)} == {store[1][0]}
    table = cli(url, "events", "tail", "--after", "0", "--limit", "2")
    assert "OrderPlaced" in table.output and "ItemsFired" in table.output


def test_events_export_then_import_elsewhere(url: str, tmp_path: Path) -> None:
    exported = tmp_path / "events.jsonl"
    result = cli(url, "events", "export", "--output", str(exported), "--json")
    assert result.exit_code == 0, result.output
    summary = orjson.loads(result.output)
    lines = exported.read_bytes().splitlines(keepends=True)
    assert summary["events"] == len(lines) == summary["head"]
    assert not list(tmp_path.glob("*.partial"))
    to_stdout = cli(url, "events", "export", "--after", "5", "--until", "8")
    assert [e["position"] for e in json_lines(to_stdout.stdout)] == [6, 7, 8]

    target = migrated(tmp_path / "restored.db")
    half = tmp_path / "half.jsonl"
    half.write_bytes(b"".join(lines[:20]))
    assert cli(target, "events", "import", str(half)).exit_code == 0  # then "interrupted"
    imported = cli(target, "events", "import", str(exported), "--json")
    assert imported.exit_code == 0, imported.output
    report = orjson.loads(imported.output)
    assert (report["imported"], report["skipped"]) == (len(lines) - 20, 20)
    again = cli(target, "events", "import", str(exported))
    assert again.exit_code == 0 and f"skipped {len(lines)}" in again.output

    rebuilt = cli(target, "projections", "rebuild")
    assert rebuilt.exit_code == 0
    assert read_model_rows(db_path(target), ["order_views"]) == read_model_rows(
        db_path(url), ["order_views"]
    )


def test_events_import_refuses_gaps_and_conflicts(url: str, tmp_path: Path) -> None:
    exported = tmp_path / "events.jsonl"
    cli(url, "events", "export", "--output", str(exported))
    lines = exported.read_bytes().splitlines(keepends=True)
    target = migrated(tmp_path / "target.db")
    gap = tmp_path / "gap.jsonl"
    gap.write_bytes(b"".join(lines[:1] + lines[2:]))

    refused = cli(target, "events", "import", str(gap))
    assert refused.exit_code == 1
    assert "import refused" in refused.output and "line 2: gap" in refused.output

    conflicting = orjson.loads(lines[0])
    conflicting["event_id"] = "not-the-same"
    other = tmp_path / "other.jsonl"
    other.write_bytes(orjson.dumps(conflicting) + b"\n")
    assert cli(url, "events", "import", str(other), "--check").exit_code == 1
    checked = cli(target, "events", "import", str(exported), "--check", "--json")
    assert checked.exit_code == 0 and orjson.loads(checked.output)["imported"] == 0


# --- orders --------------------------------------------------------------------------------


def test_orders_show_and_history(url: str, store: tuple[str, list[str]]) -> None:
    order_id = store[1][0]
    history = json_lines(cli(url, "orders", "history", order_id, "--json").output)
    assert [e["stream_version"] for e in history] == list(range(1, len(history) + 1))

    now = orjson.loads(cli(url, "orders", "show", order_id, "--json").output)
    assert now["order"]["status"] == "completed" and now["order"]["number"] == 1
    then = cli(url, "orders", "show", order_id, "--at", str(history[0]["position"]), "--json")
    assert orjson.loads(then.output)["order"]["status"] == "open"
    # history[2]: the first bump, alone in its command (the second one's auto-ready shares its
    # time); placed-and-fired is two events and firing is the status change, so it is sent.
    assert [e["type"] for e in history[:3]] == ["OrderPlaced", "ItemsFired", "ItemBumped"]
    at_time = cli(url, "orders", "show", order_id, "--at-time", str(history[2]["recorded_at"]))
    assert at_time.exit_code == 0 and "version 3" in at_time.output and "#1" in at_time.output
    assert " · sent · " in at_time.output

    assert cli(url, "orders", "show", "nope").exit_code == 1
    assert cli(url, "orders", "history", "nope").exit_code == 1
    assert cli(url, "orders", "show", order_id, "--at-time", "yesterday").exit_code == 2
    assert cli(url, "orders", "show", order_id, "--at", "1", "--at-time", "2026").exit_code == 2


# --- store ---------------------------------------------------------------------------------


def test_store_verify_detects_a_tampered_row(url: str) -> None:
    ok = cli(url, "store", "verify")
    assert ok.exit_code == 0 and "ok:" in ok.output

    execute(url, "UPDATE order_views SET status = 'preparing' WHERE rowid = 1")
    found = cli(url, "store", "verify")
    assert found.exit_code == 1
    assert "order_views: id=" in found.output and "status is 'preparing'" in found.output
    report = orjson.loads(cli(url, "store", "verify", "--json").output)
    assert [d["check"] for d in report["differences"]] == ["order_views"]

    repaired = cli(url, "projections", "rebuild", "order_views")
    assert repaired.exit_code == 0
    assert cli(url, "store", "verify", "--log-only").exit_code == 0
    assert cli(url, "store", "verify").exit_code == 0


def test_store_stats(url: str) -> None:
    stats = orjson.loads(cli(url, "store", "stats", "--json").output)
    assert stats["events"] == stats["head"] > 0 and stats["streams"] == 12
    assert stats["types"]["OrderPlaced"] == 12 and stats["size"] > 0
    assert "OrderPlaced" in cli(url, "store", "stats").output


# --- exit codes for the environment ----------------------------------------------------------


def test_unreachable_or_unmigrated_database_exits_3(tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path / 'missing.db'}"
    assert cli(missing, "store", "stats").exit_code == 3
    sqlite3.connect(tmp_path / "empty.db").close()
    result = cli(f"sqlite:///{tmp_path / 'empty.db'}", "projections", "rebuild")
    assert result.exit_code == 3 and "db upgrade" in result.output
    assert not table_names(tmp_path / "empty.db")


def test_invalid_settings_exit_2(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDER_SERVICE_LOG_LEVEL", "loud")
    result = cli(url, "store", "stats")
    assert result.exit_code == 2 and "ORDER_SERVICE_LOG_LEVEL" in result.output
