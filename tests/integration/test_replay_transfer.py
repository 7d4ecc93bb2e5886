"""Export to JSON Lines and import through the store API, between real SQLite files."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import orjson
import pytest

from infrastructure.replay.transfer import export_events, import_events
from tests.integration.replay_support import db_path, migrated, write_history

pytestmark = pytest.mark.anyio

IDENTITY = "stream_id, stream_version, event_id, type, schema_version, data, metadata"


def exported(url: str, **bounds: int) -> list[bytes]:
    out = io.BytesIO()
    export_events(url, out, **bounds)
    return out.getvalue().splitlines(keepends=True)


def events(url: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db_path(url)) as conn:
        return conn.execute(f"SELECT {IDENTITY} FROM events ORDER BY position").fetchall()


def write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(lines))
    return path


@pytest.fixture
async def source(tmp_path: Path) -> str:
    url = migrated(tmp_path / "source.db")
    await write_history(url, rounds=2)
    return url


@pytest.fixture
def target(tmp_path: Path) -> str:
    return migrated(tmp_path / "target.db")


async def test_export_writes_every_column_of_every_event(source: str) -> None:
    lines = exported(source)
    with sqlite3.connect(db_path(source)) as conn:
        rows = conn.execute("SELECT * FROM events ORDER BY position").fetchall()
    assert len(lines) == len(rows)
    first = orjson.loads(lines[0])
    assert list(first) == [
        "position",
        "stream_id",
        "stream_version",
        "event_id",
        "type",
        "schema_version",
        "data",
        "metadata",
        "recorded_at",
    ]
    position, stream, version, event_id, type_, schema, data, metadata, at = rows[0]
    assert first == {
        "position": position,
        "stream_id": stream,
        "stream_version": version,
        "event_id": event_id,
        "type": type_,
        "schema_version": schema,
        "data": orjson.loads(data),
        "metadata": orjson.loads(metadata),
        "recorded_at": at,
    }
    ranged = [orjson.loads(line)["position"] for line in exported(source, after=3, until=7)]
    assert ranged == [4, 5, 6, 7]


async def test_import_copies_the_log_and_a_second_import_skips_everything(
    source: str, target: str, tmp_path: Path
) -> None:
    file = write(tmp_path / "all.jsonl", exported(source))

    report = await import_events(target, file)
    assert report.ok and report.imported == len(events(source)) and report.skipped == 0
    assert events(target) == events(source)
    assert (report.first_position, report.last_position) == (1, report.imported)

    again = await import_events(target, file)
    assert again.ok and (again.imported, again.skipped) == (0, report.imported)
    assert events(target) == events(source)


async def test_an_interrupted_import_resumes_where_it_stopped(
    source: str, target: str, tmp_path: Path
) -> None:
    lines = exported(source)
    half = write(tmp_path / "half.jsonl", lines[: len(lines) // 2])
    whole = write(tmp_path / "all.jsonl", lines)

    first = await import_events(target, half)
    rest = await import_events(target, whole)

    assert first.ok and rest.ok
    assert rest.skipped == first.imported == len(lines) // 2
    assert first.imported + rest.imported == len(lines)
    assert events(target) == events(source)


async def test_overlapping_exports_concatenated_import_once(
    source: str, target: str, tmp_path: Path
) -> None:
    lines = exported(source)
    overlapping = write(tmp_path / "overlap.jsonl", lines[:20] + lines[10:])

    report = await import_events(target, overlapping)

    assert report.ok and (report.imported, report.skipped) == (len(lines), 10)
    assert events(target) == events(source)


async def test_a_gap_refuses_the_whole_file(source: str, target: str, tmp_path: Path) -> None:
    lines = exported(source)
    gap = next(i for i, line in enumerate(lines) if orjson.loads(line)["stream_version"] == 2)
    file = write(tmp_path / "gap.jsonl", lines[:gap] + lines[gap + 1 :])

    report = await import_events(target, file)

    assert not report.ok
    [problem] = [p for p in report.problems if p.line == gap + 1]
    assert problem.kind == "gap" and "version 3 follows version 1" in problem.detail
    assert events(target) == [], "nothing is appended when the file is refused"


async def test_a_version_conflict_is_refused(source: str, target: str, tmp_path: Path) -> None:
    lines = exported(source)
    await import_events(target, write(tmp_path / "all.jsonl", lines))
    other = orjson.loads(lines[1])
    other["event_id"] = "another-event"  # the same stream and version, another event
    file = write(tmp_path / "conflict.jsonl", [orjson.dumps(other) + b"\n"])

    report = await import_events(target, file)

    assert [p.kind for p in report.problems] == ["conflict"]
    assert "different history" in report.problems[0].detail
    assert len(events(target)) == len(lines)


async def test_same_event_id_with_other_content_is_a_conflict(
    source: str, target: str, tmp_path: Path
) -> None:
    lines = exported(source)
    await import_events(target, write(tmp_path / "all.jsonl", lines))
    changed = orjson.loads(lines[0])
    changed["data"]["table_number"] = 99

    report = await import_events(target, write(tmp_path / "x.jsonl", [orjson.dumps(changed)]))

    assert [(p.line, p.kind) for p in report.problems] == [(1, "conflict")]
    assert "other content" in report.problems[0].detail


async def test_malformed_lines_are_reported_with_their_number(target: str, tmp_path: Path) -> None:
    file = write(tmp_path / "bad.jsonl", [b"{not json\n", b"\n", b'{"position": 1}\n'])

    report = await import_events(target, file)

    assert [(p.line, p.kind) for p in report.problems] == [(1, "malformed"), (3, "malformed")]
