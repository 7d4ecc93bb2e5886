"""The SQLite store's writer thread (``_WriterThread``): calls run one at a time, in order,
on that one thread; results and errors reach the awaiting task; a call cancelled before the
thread takes it is not run. And the writer's connection lent to the projector
(``run_with_writer_connection``)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from domain.ports import NO_STREAM
from infrastructure.event_store import open_event_store
from infrastructure.event_store.sqlite import SqliteEventStore, _WriterThread
from infrastructure.migrations import upgrade
from tests.contract.event_store_fixtures import new_event

pytestmark = pytest.mark.anyio


@pytest.fixture
def lane() -> Iterator[_WriterThread]:
    thread = _WriterThread("test-writer")
    yield thread
    thread.shutdown()


async def test_calls_run_in_order_on_one_thread_of_their_own(lane: _WriterThread) -> None:
    seen: list[tuple[int, str]] = []

    def record(n: int) -> int:
        seen.append((n, threading.current_thread().name))
        return n * n

    results = await asyncio.gather(*(lane.call(record, n) for n in range(50)))
    assert results == [n * n for n in range(50)]
    assert [n for n, _ in seen] == list(range(50))
    assert {name for _, name in seen} == {"test-writer"}


async def test_an_error_reaches_the_caller_and_the_thread_goes_on(lane: _WriterThread) -> None:
    def fail() -> None:
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        await lane.call(fail)
    assert await lane.call(lambda: "still serving") == "still serving"


async def test_a_call_cancelled_before_it_starts_is_not_run(lane: _WriterThread) -> None:
    release = threading.Event()
    ran: list[str] = []
    busy = lane.call(release.wait, 5)  # holds the thread
    skipped = lane.call(ran.append, "cancelled")
    skipped.cancel()
    release.set()
    assert await busy is True
    await lane.call(ran.append, "after")
    assert ran == ["after"]


# --- the writer connection lent to the projector ----------------------------------------


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteEventStore]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'events.db'}"
    upgrade(url)
    opened = await open_event_store(url)  # synchronous=FULL, the default
    assert isinstance(opened, SqliteEventStore)
    yield opened
    await opened.close()


def _synchronous(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA synchronous").fetchone()[0])


async def test_the_lent_connection_is_the_writers_at_the_asked_durability(
    store: SqliteEventStore,
) -> None:
    seen: list[tuple[str, int]] = []

    def work(conn: sqlite3.Connection) -> int:
        seen.append((threading.current_thread().name, _synchronous(conn)))
        return conn.total_changes

    await store.append("s", [new_event(), new_event()], NO_STREAM)
    changes = await store.run_with_writer_connection(work, synchronous="NORMAL")
    assert changes == 2  # the rows this connection wrote: the append's
    assert seen == [("event-store-writer", 1)]  # NORMAL while lent
    after = await store.run_with_writer_connection(_synchronous, synchronous="FULL")
    assert after == 2  # FULL again for the store's own commits


async def test_a_transaction_left_open_is_rolled_back_and_appends_go_on(
    store: SqliteEventStore,
) -> None:
    def leave_open(conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO order_number_counters VALUES ('2026-11-26', 5)")
        raise ValueError("failed mid-transaction")

    with pytest.raises(ValueError, match="mid-transaction"):
        await store.run_with_writer_connection(leave_open, synchronous="NORMAL")
    await store.append("s", [new_event()], NO_STREAM)
    rows = await store.run_with_writer_connection(
        lambda conn: conn.execute("SELECT count(*) FROM order_number_counters").fetchone()[0],
        synchronous="NORMAL",
    )
    assert rows == 0
    assert await store.head_position() == 1


def _on_disk(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()[0])


async def test_after_each_commit_the_lender_goes_before_the_next_batch(
    store: SqliteEventStore,
) -> None:
    """The projector's pattern: wake on a commit, lend the writer for what it woke to. With
    appends arriving all the time (one every ~0.3 ms, so several queue up during each
    commit's fsync), every lend still finds the head it woke for: the next batch waited for
    it instead of committing (and fsyncing) first, which would have held the woken
    commands' answers for a second commit."""
    total = 300
    seen: list[tuple[int, int]] = []

    async def follower() -> None:
        position = await store.run_with_writer_connection(_on_disk, synchronous="NORMAL")
        while position < total:
            head = await store.wait_for_events(position, None)
            on_disk = await store.run_with_writer_connection(_on_disk, synchronous="NORMAL")
            seen.append((head, on_disk))
            position = head

    following = asyncio.create_task(follower())
    appends = []
    for n in range(total):
        appends.append(asyncio.create_task(store.append(f"pos-{n}", [new_event()], NO_STREAM)))
        await asyncio.sleep(0.0003)
    await asyncio.gather(*appends)
    await asyncio.wait_for(following, 10)
    assert len(seen) >= 10  # many commits, most with appends queued behind them
    assert [on_disk for _, on_disk in seen] == [head for head, _ in seen]
