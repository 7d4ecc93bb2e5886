"""The rebuild's writes: its times are the view's text of what the live projector reads from
an event, and statements of many rows leave what a statement per row leaves."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from infrastructure.read_models.handlers import _VIEWS_UPSERT
from infrastructure.read_models.tables import ORDER_VIEWS, iso
from infrastructure.read_models.views import occurred
from infrastructure.replay.bulk import _at, _commit, _Many, _upsert

RECORDED = "2026-11-25 18:00:00.250000"


def outcome(work: Any) -> tuple[str, Any]:
    try:
        return ("value", work())
    except Exception as error:
        return ("error", (type(error), str(error)))


def live(metadata: str, recorded_at: str) -> str:
    """What the live projector shows: ``iso(views.occurred_at(event))``."""
    return iso(occurred(orjson.loads(metadata)) or datetime.fromisoformat(recorded_at))


def stamped(raw: Any) -> str:
    return orjson.dumps({"actor": "pos-1", "occurred_at": raw}).decode()


def random_times(count: int) -> list[str]:
    rng = random.Random(5)
    zones = [
        UTC,
        timezone(timedelta(0)),
        timezone(timedelta(hours=2)),
        timezone(-timedelta(hours=5, minutes=30)),
    ]
    times = []
    for _ in range(count):
        at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=rng.randrange(10**14))
        if rng.random() < 0.2:
            at = at.replace(microsecond=0)  # isoformat() leaves the fraction out
        times.append(at.astimezone(rng.choice(zones)).isoformat())
    return times


ODD = [
    "2026-11-25T18:00:00.123456+00:00",
    "2026-11-25T18:00:00+00:00",
    "2026-11-25T18:00:00.123+00:00",
    "2026-11-25T18:00:00.123456Z",
    "2026-11-25T18:00:00.123456-00:00",
    "2026-11-25 18:00:00.123456+00:00",
    "2026-11-25x18:00:00.123456+00:00",
    "2026-11-25T18:00:00,123456+00:00",
    "2026-11-25T18:00:00.123456",
    "2026-11-25T18:00:00.123456+01:00",
    "2026-11-25T18:00:00.123456+00:00:00",
    "2026-W48-3T18:00:00.123456+00:00",
    "2026-329T18:00:00.123456+00:00",
    "20261125T180000.123456+00:00",
    "2026-11-25T24:00:00.000000+00:00",
    "2026-11-25T18:00:60.000000+00:00",
    "2026-13-25T18:00:00.123456+00:00",
    "٢٠٢٦-11-25T18:00:00.123456+00:00",
    "2026-11-25T18:00:00.12345\uff16+00:00",  # a fullwidth digit
    "",
    "late",
]


@pytest.mark.parametrize("raw", [*ODD, *random_times(300)])
def test_a_time_is_the_views_text_of_the_events_occurred_at(raw: str) -> None:
    metadata = stamped(raw)
    assert outcome(lambda: _at(metadata, RECORDED)) == outcome(lambda: live(metadata, RECORDED))


@pytest.mark.parametrize("raw", [None, 5, ["2026-11-25T18:00:00.123456+00:00"], "absent"])
@pytest.mark.parametrize("recorded_at", [RECORDED, "2026-11-25 18:00:00", "2026-11-25T18:00:00"])
def test_without_an_occurred_at_the_recorded_time_stands_in(raw: Any, recorded_at: str) -> None:
    metadata = '{"actor":"pos-1"}' if raw == "absent" else stamped(raw)
    assert _at(metadata, recorded_at) == live(metadata, recorded_at)


def test_a_statement_of_many_rows_is_the_live_statement_for_one() -> None:
    assert _upsert(ORDER_VIEWS, ("id",), "").one == _VIEWS_UPSERT.sql
    shadow = _upsert(ORDER_VIEWS, ("id",), "_shadow_")
    assert shadow.one == _VIEWS_UPSERT.sql.replace("order_views", "_shadow_order_views", 1)
    assert shadow.width == len(ORDER_VIEWS.columns)
    assert shadow.sql(3).count("?") == 3 * len(ORDER_VIEWS.columns)


def run_both(
    statements: list[tuple[str, list[tuple[Any, ...]]]], limit: int | None = None
) -> tuple[Any, Any]:
    """``statements`` (all on ``t``) run by ``_commit`` and, row by row, by ``executemany``:
    for each, (rows with their rowids, or the error) and the rows committed."""
    outcomes = []
    for many in (True, False):
        conn = sqlite3.connect(":memory:", isolation_level=None)
        conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY, a INTEGER, b TEXT NOT NULL)")
        conn.execute("INSERT INTO t VALUES ('old', 1, 'x'), ('gone', 2, 'y')")
        if limit is not None:
            conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, limit)
        batch = [(_STATEMENTS[name], rows) for name, rows in statements]

        def write(batch: Any = batch, conn: sqlite3.Connection = conn, many: bool = many) -> Any:
            if many:
                _commit(conn, batch)
            else:
                conn.execute("BEGIN")
                for statement, rows in batch:
                    conn.executemany(statement.one, rows)
                conn.execute("COMMIT")
            return conn.execute("SELECT rowid, k, a, b, typeof(a) FROM t ORDER BY rowid").fetchall()

        result: tuple[Any, ...] = outcome(write)
        if many:
            result = (*result, conn.execute("SELECT k, a, b FROM t ORDER BY rowid").fetchall())
        outcomes.append(result)
    return outcomes[0], outcomes[1]


_STATEMENTS = {
    "upsert": _Many(
        "INSERT INTO t (k, a, b) VALUES ",
        "(?, ?, ?)",
        " ON CONFLICT (k) DO UPDATE SET a = excluded.a, b = excluded.b",
    ),
    "delete": _Many("DELETE FROM t WHERE k IN (", "?", ")"),
}


@pytest.mark.parametrize("limit", [None, 7, 3])
def test_many_rows_a_statement_leave_what_a_statement_a_row_leaves(limit: int | None) -> None:
    rows: list[tuple[Any, ...]] = [
        (f"k{n % 40}", n, f"v{n}\x00é") for n in range(2_500)
    ]  # later rows update earlier
    rows += [("old", None, "z"), ("k1", 2**63 - 1, "w")]
    statements: list[tuple[str, list[tuple[Any, ...]]]] = [
        ("delete", [("gone",), ("nothing",)]),
        ("upsert", rows),
        ("delete", [("k2",)]),
    ]
    many, one = run_both(statements, limit)
    assert many[:2] == one
    assert many[0] == "value" and len(many[1]) == 40


@pytest.mark.parametrize(
    "bad", [(None, 1, None), ("k", {"a": 1}, "b"), ("k", 2**64, "b"), ("k", 1)], ids=repr
)
def test_a_row_that_fails_fails_the_batch_and_leaves_nothing(bad: tuple[Any, ...]) -> None:
    statements = [("delete", [("old",)]), ("upsert", [("a", 1, "b"), bad, ("c", 3, "d")])]
    many, one = run_both(statements)
    assert many[0] == one[0] == "error"
    assert many[1][0] is one[1][0]  # the same kind of error
    assert many[2] == [("old", 1, "x"), ("gone", 2, "y")]  # rolled back
