"""A writer killed with SIGKILL loses nothing it reported and leaves no partial append.

The child process appends in a loop (1- and 3-event appends from several tasks, so group
commit batches them) and prints each result after ``append`` returned, i.e. after COMMIT.
The parent kills it mid-stream, reopens the file and checks what survived.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
from collections import defaultdict
from contextlib import closing
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import Process
from anyio.streams.text import TextReceiveStream

from domain.ports import RecordedEvent
from infrastructure.event_store import open_event_store
from tests.contract.event_store_fixtures import migrated_url

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[2]
REPORTED_BEFORE_KILL = 300

CHILD = """
import asyncio, json, sys, time, uuid
from domain.ports import ANY, NewEvent
from infrastructure.event_store import open_event_store

async def main(url):
    store = await open_event_store(url)  # synchronous=FULL, the default
    deadline = time.monotonic() + 60  # never outlive a parent that failed to kill us

    async def worker(w):
        n = 0
        while time.monotonic() < deadline:
            append_id, size = f"{w}-{n}", 3 if n % 2 else 1
            events = [
                NewEvent(str(uuid.uuid4()), "Crashed", {"append": append_id, "size": size})
                for _ in range(size)
            ]
            r = await store.append(f"stream-{w}", events, ANY)
            line = {"append": append_id, "first": r.first_position, "last": r.last_position}
            print(json.dumps(line), flush=True)
            n += 1

    await asyncio.gather(*(worker(w) for w in range(4)))

asyncio.run(main(sys.argv[1]))
"""


async def read_reports(process: Process, count: int) -> list[dict[str, Any]]:
    """The child's first ``count`` stdout lines, parsed; bounded by the caller's deadline."""
    assert process.stdout is not None
    lines: list[str] = []
    pending = ""
    async for chunk in TextReceiveStream(process.stdout):
        pending += chunk
        *complete, pending = pending.split("\n")
        lines.extend(complete)
        if len(lines) >= count:
            break
    return [json.loads(line) for line in lines]


async def test_killed_writer_keeps_every_reported_append_whole(tmp_path: Path) -> None:
    url = migrated_url(tmp_path)
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    stderr = (tmp_path / "child.stderr").open("wb")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = await anyio.open_process(
        [sys.executable, str(script), url], stderr=stderr, cwd=REPO, env=env
    )
    try:
        with anyio.fail_after(60):
            reports = await read_reports(process, REPORTED_BEFORE_KILL)
    finally:
        process.send_signal(signal.SIGKILL)
        with anyio.fail_after(10):
            await process.wait()
        await process.aclose()
        stderr.close()
    assert process.returncode == -signal.SIGKILL, (tmp_path / "child.stderr").read_text()
    assert len(reports) >= REPORTED_BEFORE_KILL

    store = await open_event_store(url)
    try:
        stored: list[RecordedEvent] = []
        while page := await store.read_all(after_position=len(stored)):
            stored.extend(page)
    finally:
        await store.close()

    assert [e.position for e in stored] == list(range(1, len(stored) + 1))
    by_append: dict[str, list[RecordedEvent]] = defaultdict(list)
    for event in stored:
        by_append[event.data["append"]].append(event)
    for append_id, events in by_append.items():
        assert len(events) == events[0].data["size"], f"append {append_id} is partial"
    for report in reports:
        positions = [e.position for e in by_append[report["append"]]]
        assert positions == list(range(report["first"], report["last"] + 1)), report
    # The kill landed while the child was still writing, not after it stopped.
    assert len(by_append) >= len(reports)
    with closing(sqlite3.connect(tmp_path / "events.db")) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
