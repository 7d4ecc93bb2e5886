"""The ``EventStore`` contract, run against every adapter (``ADAPTERS``)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import anyio
import pytest

from domain.codec import Upcasters
from domain.ports import (
    ANY,
    JSON,
    NO_STREAM,
    AppendResult,
    ConcurrencyConflict,
    EventStore,
    EventStoreError,
    IdempotencyKey,
    IdempotencyKeyReused,
)
from infrastructure.event_store import open_event_store
from tests.contract.event_store_fixtures import ADAPTERS, new_event, opened_store

pytestmark = pytest.mark.anyio


@pytest.fixture(params=ADAPTERS)
def adapter(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def store(adapter: str, tmp_path: Path) -> AsyncIterator[EventStore]:
    async with opened_store(adapter, tmp_path) as opened:
        yield opened


async def versions(store: EventStore, stream_id: str) -> list[int]:
    return [e.stream_version for e in await store.read_stream(stream_id)]


# --- append and expected versions -----------------------------------------------------


async def test_append_to_a_new_stream_records_every_field(store: EventStore) -> None:
    event = new_event("OrderPlaced", {"table": 7, "items": [{"n": 1}]}, actor="pos-1")

    result = await store.append("order-1", [event], NO_STREAM)

    assert result == AppendResult("order-1", 1, 1, 1)
    [recorded] = await store.read_stream("order-1")
    assert (recorded.position, recorded.stream_id, recorded.stream_version) == (1, "order-1", 1)
    assert (recorded.event_id, recorded.type, recorded.schema_version) == (
        event.event_id,
        "OrderPlaced",
        1,
    )
    assert recorded.data == {"table": 7, "items": [{"n": 1}]}
    assert recorded.metadata == {"actor": "pos-1"}
    assert isinstance(recorded.recorded_at, datetime)
    assert recorded.recorded_at.utcoffset() is not None


async def test_no_stream_is_refused_once_the_stream_exists(store: EventStore) -> None:
    await store.append("s", [new_event()], NO_STREAM)

    with pytest.raises(ConcurrencyConflict) as caught:
        await store.append("s", [new_event()], NO_STREAM)

    assert (caught.value.stream_id, caught.value.expected, caught.value.actual) == (
        "s",
        NO_STREAM,
        1,
    )
    assert await versions(store, "s") == [1]


async def test_exact_version_must_match_the_stream(store: EventStore) -> None:
    await store.append("s", [new_event()], 0)
    assert (await store.append("s", [new_event()], 1)).stream_version == 2

    for stale in (1, 3):
        with pytest.raises(ConcurrencyConflict) as caught:
            await store.append("s", [new_event()], stale)
        assert caught.value.actual == 2
    with pytest.raises(ConcurrencyConflict):
        await store.append("new", [new_event()], 1)
    assert await versions(store, "s") == [1, 2]
    assert await store.read_stream("new") == []


async def test_any_appends_whatever_the_version(store: EventStore) -> None:
    await store.append("s", [new_event()], ANY)
    result = await store.append("s", [new_event()], ANY)

    assert result.stream_version == 2


async def test_several_events_are_appended_together(store: EventStore) -> None:
    await store.append("other", [new_event()], NO_STREAM)

    result = await store.append("s", [new_event(data={"i": i}) for i in range(3)], NO_STREAM)

    assert result == AppendResult("s", 3, 2, 4)
    events = await store.read_stream("s")
    assert [(e.position, e.stream_version, e.data["i"]) for e in events] == [
        (2, 1, 0),
        (3, 2, 1),
        (4, 3, 2),
    ]


async def test_a_conflicting_append_writes_nothing(store: EventStore) -> None:
    await store.append("s", [new_event()], NO_STREAM)

    with pytest.raises(ConcurrencyConflict):
        await store.append("s", [new_event(), new_event(), new_event()], 0)

    assert await store.head_position() == 1
    assert len(await store.read_all()) == 1


async def test_a_duplicate_event_id_is_refused_and_writes_nothing(store: EventStore) -> None:
    first = new_event()
    await store.append("a", [first], NO_STREAM)

    with pytest.raises(EventStoreError, match=first.event_id):
        await store.append("b", [new_event(), first], NO_STREAM)
    twice = new_event()
    with pytest.raises(EventStoreError, match=twice.event_id):
        await store.append("c", [twice, twice], NO_STREAM)

    assert await store.head_position() == 1
    assert await store.read_stream("b") == []


async def test_invalid_appends_are_refused_before_writing(store: EventStore) -> None:
    with pytest.raises(ValueError, match="at least one event"):
        await store.append("s", [], ANY)
    with pytest.raises(ValueError, match="expected_version"):
        await store.append("s", [new_event()], "latest")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await store.append("s", [new_event(data={"when": object()})], ANY)

    assert await store.head_position() == 0


# --- reads ------------------------------------------------------------------------------


async def test_read_stream_from_a_version(store: EventStore) -> None:
    await store.append("s", [new_event(data={"i": i}) for i in range(1, 5)], NO_STREAM)

    assert [e.data["i"] for e in await store.read_stream("s", from_version=3)] == [3, 4]
    assert len(await store.read_stream("s")) == 4
    assert await store.read_stream("s", from_version=5) == []
    assert await store.read_stream("missing") == []


async def test_read_all_pages_in_position_order(store: EventStore) -> None:
    for i in range(5):
        await store.append(f"s{i % 2}", [new_event(data={"i": i})], ANY)

    everything = await store.read_all()
    assert [e.position for e in everything] == [1, 2, 3, 4, 5]
    assert [e.data["i"] for e in everything] == [0, 1, 2, 3, 4]
    assert [(e.stream_id, e.stream_version) for e in everything[:3]] == [
        ("s0", 1),
        ("s1", 1),
        ("s0", 2),
    ]
    assert [e.position for e in await store.read_all(after_position=1, limit=2)] == [2, 3]
    assert [e.position for e in await store.read_all(after_position=4, limit=10)] == [5]
    assert await store.read_all(after_position=5) == []
    with pytest.raises(ValueError, match="limit"):
        await store.read_all(limit=0)


async def test_head_position(store: EventStore) -> None:
    assert await store.head_position() == 0
    await store.append("s", [new_event(), new_event()], NO_STREAM)
    assert await store.head_position() == 2


# --- waiting ----------------------------------------------------------------------------


async def test_wait_for_events_wakes_on_an_append_in_this_process(store: EventStore) -> None:
    await store.append("s", [new_event()], NO_STREAM)
    woke: list[int] = []

    async def wait() -> None:
        woke.append(await store.wait_for_events(1, timeout=20))

    started = time.monotonic()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(wait)
        await anyio.wait_all_tasks_blocked()
        await store.append("s", [new_event()], 1)

    # Well under the adapters' poll interval (30 s): woken by the commit itself.
    assert time.monotonic() - started < 5
    assert woke == [2]


async def test_wait_for_events_without_a_time_limit_ends_on_an_append_or_close(
    store: EventStore,
) -> None:
    woke: list[int] = []

    async def wait(after: int) -> None:
        woke.append(await store.wait_for_events(after, timeout=None))

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(wait, 0)
            await anyio.wait_all_tasks_blocked()
            await store.append("s", [new_event()], NO_STREAM)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(wait, 1)
            await anyio.wait_all_tasks_blocked()
            await store.close()
    assert woke == [1, 1]


async def test_wait_for_events_returns_at_once_when_the_head_is_past(store: EventStore) -> None:
    await store.append("s", [new_event(), new_event()], NO_STREAM)

    with anyio.fail_after(5):
        assert await store.wait_for_events(1, timeout=20) == 2


async def test_wait_for_events_times_out_with_the_head(store: EventStore) -> None:
    await store.append("s", [new_event()], NO_STREAM)

    started = time.monotonic()
    head = await store.wait_for_events(1, timeout=0.2)

    assert head == 1
    assert 0.15 <= time.monotonic() - started < 5


# --- idempotency ------------------------------------------------------------------------


async def test_same_key_and_body_returns_the_first_result_and_appends_nothing(
    store: EventStore,
) -> None:
    key = IdempotencyKey("place-42", "sha256:aaa")
    first = await store.append("s", [new_event(), new_event()], NO_STREAM, idempotency=key)
    await store.append("s", [new_event()], ANY)  # the stream moves on meanwhile

    again = await store.append("s", [new_event(), new_event()], NO_STREAM, idempotency=key)

    assert again == AppendResult("s", 2, 1, 2, replayed=True)
    assert first == AppendResult("s", 2, 1, 2)
    assert await store.head_position() == 3


async def test_find_idempotent_answers_a_committed_key(store: EventStore) -> None:
    key = IdempotencyKey("fire-7", "sha256:bbb")
    assert await store.find_idempotent(key) is None
    await store.append("s", [new_event(), new_event()], NO_STREAM, idempotency=key)

    assert await store.find_idempotent(key) == AppendResult("s", 2, 1, 2, replayed=True)
    with pytest.raises(IdempotencyKeyReused):
        await store.find_idempotent(IdempotencyKey("fire-7", "sha256:other"))


async def test_same_key_with_another_body_is_refused(store: EventStore) -> None:
    await store.append("s", [new_event()], NO_STREAM, idempotency=IdempotencyKey("k", "body-1"))

    with pytest.raises(IdempotencyKeyReused) as caught:
        await store.append("t", [new_event()], ANY, idempotency=IdempotencyKey("k", "body-2"))

    assert caught.value.key == "k"
    assert await store.head_position() == 1


async def test_a_failed_append_does_not_use_up_its_key(store: EventStore) -> None:
    await store.append("s", [new_event()], NO_STREAM)
    key = IdempotencyKey("k", "body")

    with pytest.raises(ConcurrencyConflict):
        await store.append("s", [new_event()], NO_STREAM, idempotency=key)
    result = await store.append("s", [new_event()], 1, idempotency=key)

    assert result == AppendResult("s", 2, 2, 2)


async def test_concurrent_appends_with_one_key_write_once(store: EventStore) -> None:
    key = IdempotencyKey("k", "body")
    outcomes: list[AppendResult | Exception] = []

    async def attempt(stream_id: str, fingerprint: str) -> None:
        try:
            ikey = IdempotencyKey(key.key, fingerprint)
            outcomes.append(await store.append(stream_id, [new_event()], ANY, idempotency=ikey))
        except IdempotencyKeyReused as exc:
            outcomes.append(exc)

    # Started together, so the SQLite adapter gets them in one group-commit batch.
    async with anyio.create_task_group() as tasks:
        for i in range(8):
            tasks.start_soon(attempt, f"s{i}", "body" if i % 2 == 0 else "other")

    results = [o for o in outcomes if isinstance(o, AppendResult)]
    refused = [o for o in outcomes if isinstance(o, IdempotencyKeyReused)]
    written = [r for r in results if not r.replayed]
    assert len(written) == 1
    assert {(r.stream_id, r.first_position) for r in results} == {(written[0].stream_id, 1)}
    assert len(results) == 4
    assert len(refused) == 4
    assert await store.head_position() == 1


# --- schema evolution -------------------------------------------------------------------


async def test_upcaster_turns_old_events_into_the_current_shape(
    adapter: str, tmp_path: Path
) -> None:
    upcasters = Upcasters()

    @upcasters.register("ItemVoided", from_version=1)
    def _v1_to_v2(data: JSON) -> JSON:
        return {**data, "reason": data.get("reason") or "unknown"}

    async with opened_store(adapter, tmp_path, upcaster=upcasters) as store:
        old = new_event("ItemVoided", {"item_id": "i-1"}, schema_version=1)
        current = new_event("ItemVoided", {"item_id": "i-2", "reason": "burnt"}, 2)
        await store.append("order", [old, current], NO_STREAM)

        for read in (await store.read_stream("order"), await store.read_all()):
            assert [(e.schema_version, e.data) for e in read] == [
                (2, {"item_id": "i-1", "reason": "unknown"}),
                (2, {"item_id": "i-2", "reason": "burnt"}),
            ]


# --- lifecycle --------------------------------------------------------------------------


async def test_a_closed_store_refuses_work(store: EventStore) -> None:
    await store.close()

    with pytest.raises(RuntimeError, match="closed"):
        await store.append("s", [new_event()], ANY)
    with pytest.raises(RuntimeError, match="closed"):
        await store.read_all()
    await store.close()  # closing twice is harmless


async def test_open_event_store_names_the_supported_urls() -> None:
    with pytest.raises(ValueError, match=r"sqlite:///.*memory://"):
        await open_event_store("postgresql+asyncpg://db/orders")
