"""The SQLite store under concurrency: one file, many tasks, two store instances.

Group commit puts concurrent appends in one transaction; these tests hold it to the
contract's promises there: exactly one winner per stream version, positions dense and in
commit order, one append's conflict failing only that append, and two instances (as two
processes would) sharing the file.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from domain.ports import ANY, NO_STREAM, AppendResult, ConcurrencyConflict, EventStore
from infrastructure.event_store import open_event_store
from tests.contract.event_store_fixtures import migrated_url, new_event

pytestmark = pytest.mark.anyio

WRITERS = 20


@pytest.fixture
def url(tmp_path: Path) -> str:
    return migrated_url(tmp_path)


@pytest.fixture
async def store(url: str) -> AsyncIterator[EventStore]:
    opened = await open_event_store(url)
    yield opened
    await opened.close()


async def read_everything(store: EventStore) -> list[tuple[int, str, int, str]]:
    """``(position, stream_id, stream_version, data["append"])`` of every event, in pages."""
    out: list[tuple[int, str, int, str]] = []
    while page := await store.read_all(after_position=len(out), limit=7):
        out.extend((e.position, e.stream_id, e.stream_version, e.data["append"]) for e in page)
    return out


async def test_twenty_writers_on_one_stream_win_one_version_each(store: EventStore) -> None:
    winners: dict[int, str] = {}
    conflicts = 0

    async def writer(name: str) -> None:
        nonlocal conflicts
        expected = 0  # everybody's first try aims at the same version
        for _ in range(10 * WRITERS):
            try:
                result = await store.append("order", [new_event(data={"by": name})], expected)
            except ConcurrencyConflict as exc:
                conflicts += 1
                expected = exc.actual
                continue
            assert result.stream_version not in winners
            winners[result.stream_version] = name
            return
        raise AssertionError(f"{name} never won a version")

    async with anyio.create_task_group() as tasks:
        for i in range(WRITERS):
            tasks.start_soon(writer, f"w{i}")

    assert sorted(winners) == list(range(1, WRITERS + 1))
    assert len(set(winners.values())) == WRITERS
    assert conflicts >= WRITERS - 1
    events = await store.read_stream("order")
    assert [e.stream_version for e in events] == list(range(1, WRITERS + 1))
    assert [e.data["by"] for e in events] == [winners[v] for v in range(1, WRITERS + 1)]


async def test_writers_on_their_own_streams_get_dense_positions_in_commit_order(
    store: EventStore,
) -> None:
    results: dict[str, list[AppendResult]] = {}

    async def writer(stream_id: str) -> None:
        mine = results.setdefault(stream_id, [])
        for n in range(6):
            size = 3 if n % 2 else 1
            events = [new_event(data={"append": f"{stream_id}/{n}"}) for _ in range(size)]
            mine.append(await store.append(stream_id, events, NO_STREAM if n == 0 else ANY))

    async with anyio.create_task_group() as tasks:
        for i in range(WRITERS):
            tasks.start_soon(writer, f"s{i}")

    stored = await read_everything(store)
    assert [row[0] for row in stored] == list(range(1, len(stored) + 1))
    assert len(stored) == WRITERS * (3 * 1 + 3 * 3)
    by_position = {row[0]: row for row in stored}
    for stream_id, appends in results.items():
        # Each append is one contiguous run of positions, later appends after earlier ones.
        assert [r.first_position for r in appends] == sorted(r.first_position for r in appends)
        for n, result in enumerate(appends):
            run = [by_position[p] for p in range(result.first_position, result.last_position + 1)]
            assert {(sid, tag) for _, sid, _, tag in run} == {(stream_id, f"{stream_id}/{n}")}
            assert [version for _, _, version, _ in run][-1] == result.stream_version
        versions = [version for _, sid, version, _ in stored if sid == stream_id]
        assert versions == list(range(1, 13))


async def test_concurrent_appends_share_one_commit(store: EventStore) -> None:
    async with anyio.create_task_group() as tasks:
        for i in range(32):
            tasks.start_soon(store.append, f"s{i}", [new_event()], NO_STREAM)

    # recorded_at is taken once per transaction: fewer distinct values than appends
    # means several appends went through one BEGIN IMMEDIATE ... COMMIT.
    stamps = Counter(e.recorded_at for e in await store.read_all())
    assert sum(stamps.values()) == 32
    assert len(stamps) < 32


async def test_a_conflict_inside_a_batch_fails_only_that_append(store: EventStore) -> None:
    outcomes: dict[str, AppendResult | ConcurrencyConflict] = {}

    async def append(name: str, stream_id: str) -> None:
        events = [new_event(data={"append": name}) for _ in range(3)]
        try:
            outcomes[name] = await store.append(stream_id, events, NO_STREAM)
        except ConcurrencyConflict as exc:
            outcomes[name] = exc

    async with anyio.create_task_group() as tasks:
        for i in range(10):
            # Even ones race for the same new stream, odd ones each have their own.
            tasks.start_soon(append, f"a{i}", "contested" if i % 2 == 0 else f"own{i}")

    won = [n for n, o in outcomes.items() if isinstance(o, AppendResult) and int(n[1:]) % 2 == 0]
    lost = [n for n, o in outcomes.items() if isinstance(o, ConcurrencyConflict)]
    assert len(won) == 1
    assert len(lost) == 4
    assert all(isinstance(outcomes[f"a{i}"], AppendResult) for i in range(1, 10, 2))
    stored = await read_everything(store)
    assert [row[0] for row in stored] == list(range(1, 19))
    assert {tag for *_, tag in stored} == {won[0], *(f"a{i}" for i in range(1, 10, 2))}
    assert [e.data["append"] for e in await store.read_stream("contested")] == [won[0]] * 3


async def test_two_instances_on_one_file_interleave(url: str) -> None:
    first, second = await open_event_store(url), await open_event_store(url)
    try:
        version = 0
        for n in range(10):
            writer = first if n % 2 == 0 else second
            events = [new_event(data={"append": str(n)}) for _ in range(1 + n % 3)]
            version = (await writer.append("shared", events, version)).stream_version
        with pytest.raises(ConcurrencyConflict):
            await first.append("shared", [new_event(data={"append": "late"})], 1)

        from_first, from_second = await read_everything(first), await read_everything(second)
        assert from_first == from_second
        assert [row[0] for row in from_first] == list(range(1, version + 1))
        assert [row[2] for row in from_first] == list(range(1, version + 1))
        assert await first.head_position() == await second.head_position() == version
    finally:
        await second.close()
        await first.close()


async def test_wait_for_events_notices_another_instance_by_polling(url: str) -> None:
    writer = await open_event_store(url)
    watcher = await open_event_store(url, poll_interval=0.05)
    try:
        await writer.append("s", [new_event(data={"append": "0"})], NO_STREAM)
        head = await watcher.head_position()
        woke: list[int] = []

        async def wait() -> None:
            # No time limit: only the poller's look at the file can end this wait (the
            # writer is another instance: its commit notifies its own waiters only).
            woke.append(await watcher.wait_for_events(head, timeout=None))

        with anyio.fail_after(20):  # a hang guard, not a speed check
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(wait)
                # Append once the watcher waits, by its waiter count (the store has no event
                # for it). ``anyio.wait_all_tasks_blocked`` took 0.1-20 s here: with the
                # poller waking every 50 ms it seldom sees every task blocked at once.
                while not watcher._waiters:  # type: ignore[attr-defined]  # noqa: ASYNC110
                    await anyio.sleep(0.005)
                await writer.append("s", [new_event(data={"append": "1"})], 1)

        assert woke == [head + 1]
    finally:
        await watcher.close()
        await writer.close()


async def test_a_wait_right_after_its_own_commit_notices_another_instance_by_polling(
    url: str,
) -> None:
    """Right after its own commit (which read the file's head) a store waits without looking
    again; another instance's write in between is still seen within about a poll interval."""
    watcher = await open_event_store(url, poll_interval=1.0)
    writer = await open_event_store(url)
    try:
        await watcher.append("w", [new_event(data={"append": "own"})], NO_STREAM)
        await writer.append("s", [new_event(data={"append": "other"})], NO_STREAM)
        with anyio.fail_after(20):  # a hang guard: with no time limit only a look ends it
            assert await watcher.wait_for_events(1, timeout=None) == 2
        await anyio.sleep(1.05)  # its last look is a poll interval old: it looks at once
        await writer.append("s", [new_event(data={"append": "later"})], 1)
        # Looking at once is one read; the poller would look a whole interval (1 s) later.
        with anyio.fail_after(0.75):
            assert await watcher.wait_for_events(2, timeout=None) == 3
    finally:
        await writer.close()
        await watcher.close()


async def test_reads_behind_the_head_from_memory_equal_reads_from_the_file(url: str) -> None:
    """``read_all`` answers from the in-memory tail what the file holds: same events, no gap
    where another instance wrote in between, and a file read once the tail has moved on."""
    first = await open_event_store(url, tail_size=5)
    second = await open_event_store(url)
    try:
        for n in range(12):
            writer = second if n in (4, 9) else first
            events = [new_event(data={"append": str(n)}) for _ in range(1 + n % 2)]
            await writer.append(f"s{n}", events, NO_STREAM)
        fresh = await open_event_store(url)  # nothing in its tail: every read is a query
        try:
            # Before it learns of the other's later commits, an instance's page may stop at
            # the head it knows: a prefix of the file's, never a gap.
            stale, whole = await second.read_all(12, 100), await fresh.read_all(12, 100)
            assert stale == whole[: len(stale)] and stale
            for store in (first, second):
                await store.head_position()  # what polling does while someone waits
            for after in range(await fresh.head_position() + 1):
                for limit in (1, 2, 7, 100):
                    expected = await fresh.read_all(after, limit)
                    assert await first.read_all(after, limit) == expected, (after, limit)
                    assert await second.read_all(after, limit) == expected, (after, limit)
        finally:
            await fresh.close()
    finally:
        await second.close()
        await first.close()


async def test_the_tail_lets_go_of_what_a_read_has_passed(url: str) -> None:
    """A read answered from memory drops the positions the reader has read past (so they do
    not stay alive for the garbage collector to walk); reading them again is a file read
    with the same events."""
    store = await open_event_store(url)
    try:
        appended = [
            await store.append(f"s{n}", [new_event(data={"n": str(n)})], NO_STREAM)
            for n in range(6)
        ]
        assert [r.last_position for r in appended] == [1, 2, 3, 4, 5, 6]
        everything = await store.read_all(0, 100)  # from memory: the tail holds 1..6
        assert [e.position for e in everything] == [1, 2, 3, 4, 5, 6]
        assert [e.position for e in await store.read_all(4, 100)] == [5, 6]
        tail = store._tail  # type: ignore[attr-defined]
        assert [e.position for e in tail] == [5, 6]
        assert await store.read_all(0, 100) == everything  # read from the file
        assert await store.read_all(1, 2) == everything[1:3]
        await store.append("s6", [new_event()], NO_STREAM)
        assert [e.position for e in await store.read_all(6, 100)] == [7]
        assert [e.position for e in tail] == [7]
    finally:
        await store.close()


async def test_background_checkpoints_copy_the_wal_back_and_keep_it_bounded(
    url: str, tmp_path: Path
) -> None:
    """With ``checkpoint_interval`` the writer does not checkpoint; the store's checkpointer
    does: the database file grows as pages are copied back, and under a steady stream of
    appends the WAL file is started over instead of growing with every append."""
    store = await open_event_store(url, checkpoint_interval=0.05)
    database = _database_file(tmp_path)
    appended = 0
    try:
        assert getattr(store, "checkpoints_in_background", False)
        before, _ = _sizes(database)
        wal_sizes: list[int] = []
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            data = {"n": appended, "padding": "x" * 2000}
            await store.append(f"s{appended}", [new_event(data=data)], NO_STREAM)
            appended += 1
            if appended % 100 == 0:
                wal_sizes.append(_sizes(database)[1])
        await anyio.sleep(0.3)
        assert _sizes(database)[0] > before + appended * 2000 // 2
        # Without restarts the WAL holds every append's pages: it would grow all along.
        assert len(wal_sizes) >= 6, wal_sizes
        assert max(wal_sizes) < 3 * max(wal_sizes[: len(wal_sizes) // 3]), wal_sizes
        assert len(await store.read_all(0, appended + 10)) == appended
    finally:
        await store.close()


def _database_file(directory: Path) -> Path:
    return next(directory.glob("*.db"))


def _sizes(database: Path) -> tuple[int, int]:
    """The database file's size and its WAL file's."""
    wal = database.with_name(database.name + "-wal")
    return database.stat().st_size, wal.stat().st_size
