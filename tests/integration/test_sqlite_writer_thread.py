"""The SQLite store's writer thread (``_WriterThread``): calls run one at a time, in order,
on that one thread; results and errors reach the awaiting task; a call cancelled before the
thread takes it is not run."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from infrastructure.event_store.sqlite import _WriterThread

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
