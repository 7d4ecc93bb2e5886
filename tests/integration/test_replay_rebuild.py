"""Rebuilding read models on a real SQLite file: online (shadow tables + swap) and in place.

The live side is the real ``Projector`` running in this process, with commands flowing
through the real ``OrderService``; the swapped-in tables are compared row by row with a
rebuild from zero made by ``infrastructure.projector.rebuild`` on a copy of the file.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import text

from domain.codec import to_new_event
from domain.commands import BumpItem
from domain.events import ItemBumped
from domain.handlers import OrderService
from domain.ports import ANY, NewEvent
from infrastructure.broadcast import ProjectedEvent
from infrastructure.event_store import open_event_store
from infrastructure.projector import ProjectionFailed, Projector, rebuild
from infrastructure.read_models import create_engine
from infrastructure.replay.bulk import BulkProjector
from infrastructure.replay.progress import Task
from infrastructure.replay.rebuild import (
    RebuildInProgress,
    UnknownProjection,
    _create_shadow,
    _Plan,
    projection_names,
    rebuild_engine,
    rebuild_in_place,
    rebuild_online,
)
from infrastructure.replay.source import EventLog
from tests.integration.replay_support import (
    CountingIds,
    Pos,
    StepClock,
    db_path,
    index_names,
    migrated,
    project,
    read_model_rows,
    seed,
    table_names,
    write_history,
    write_random_history,
)

pytestmark = pytest.mark.anyio


class Recorder:
    """A broadcaster that remembers every position it was given."""

    def __init__(self) -> None:
        self.positions: list[int] = []

    async def publish(self, batch: Sequence[ProjectedEvent]) -> None:
        self.positions.extend(p.position for p in batch)


async def fresh_fold(path: Path, tmp_path: Path) -> dict[str, list[object]]:
    """The read models a rebuild from zero gives, on a copy of ``path``."""
    copy = tmp_path / "copy.db"
    with sqlite3.connect(path) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    url = f"sqlite+aiosqlite:///{copy}"
    store = await open_event_store(url)
    engine = create_engine(url)
    try:
        await rebuild(store, engine)
    finally:
        await engine.dispose()
        await store.close()
    return read_models_of(copy)


def read_models_of(path: Path) -> dict[str, list[object]]:
    rows = read_model_rows(path)
    rows["projection_checkpoints"] = [
        r for r in rows["projection_checkpoints"] if r[0] != "#generation"
    ]
    return rows


def generation(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        row = conn.execute(
            "SELECT position FROM projection_checkpoints WHERE name = '#generation'"
        ).fetchone()
    return int(row[0]) if row else 0


def tamper(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE order_views SET status = 'served' WHERE rowid = 1")
        conn.execute("DELETE FROM kitchen_ticket_items WHERE rowid = 1")
        conn.execute("UPDATE order_number_counters SET last_number = 99")


@pytest.fixture
async def projected(tmp_path: Path) -> tuple[str, Path]:
    """A store with a varied history, its read models up to date: its URL and file."""
    url = migrated(tmp_path / "orders.db")
    await write_history(url, rounds=2)
    await project(url)
    return url, db_path(url)


def leftovers(path: Path) -> list[str]:
    return [t for t in table_names(path) if t.startswith(("_shadow_", "_retired_"))]


async def test_online_rebuild_swaps_in_under_load_without_loss(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = migrated(tmp_path / "orders.db")
    path = db_path(url)
    await write_history(url, rounds=3)
    store = await open_event_store(url)
    engine = create_engine(url)
    recorder = Recorder()
    live = Projector(store, engine, recorder, batch_size=7)
    await live.start()
    # A projector that has committed nothing yet is invisible to a rebuild (no checkpoint
    # row says it runs): let it write one, as a server that has been up for a moment has.
    assert await live.wait_for_position(1, 10)
    pos = Pos(OrderService(store, StepClock(), CountingIds("load")))
    stop, swapped, after_swap = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def load() -> None:
        placed_after_swap = 0
        while not stop.is_set():
            order_id, (item,) = await pos.place("grill")
            await pos.run(BumpItem(order_id, item))
            placed_after_swap += swapped.is_set()
            if placed_after_swap >= 5:  # commands kept flowing after the swap
                after_swap.set()
            await asyncio.sleep(0.005)

    caplog.set_level(logging.INFO, logger="infrastructure.projector")
    writer = asyncio.create_task(load())
    try:
        indexes = index_names(path)
        result = await rebuild_online(url, batch_size=10)
        swapped.set()
        await asyncio.wait_for(after_swap.wait(), 10)
    finally:
        stop.set()
        await writer
    head = await store.head_position()
    assert await live.wait_for_position(head, 10)
    await live.stop()
    await engine.dispose()
    await store.close()

    assert result.generation == 1 and result.projections == ("order_views", "kitchen")
    assert 0 < result.position <= result.head
    assert recorder.positions == list(range(1, head + 1)), "every event pushed once, in order"
    assert live.last_error is None
    assert "read models were swapped in" in caplog.text
    assert read_models_of(path) == await fresh_fold(path, tmp_path)
    assert generation(path) == 1
    assert not leftovers(path)
    assert index_names(path) == indexes, "the indexes are back under their own names"


async def test_online_rebuild_repairs_tampered_tables(projected: tuple[str, Path]) -> None:
    url, path = projected
    expected = read_models_of(path)
    tamper(path)
    assert read_models_of(path) != expected

    result = await rebuild_online(url)

    assert read_models_of(path) == expected
    assert result.position == result.head == result.events


async def test_rebuilding_one_projection_swaps_only_its_tables(projected: tuple[str, Path]) -> None:
    url, path = projected
    expected = read_models_of(path)
    tamper(path)
    tampered = read_models_of(path)

    await rebuild_online(url, ["kitchen"])

    after = read_models_of(path)
    assert after["kitchen_ticket_items"] == expected["kitchen_ticket_items"]
    assert after["order_views"] == tampered["order_views"], "order_views was not asked for"
    assert after["order_number_counters"] == tampered["order_number_counters"]
    assert generation(path) == 1


async def test_an_interrupted_rebuild_drops_its_shadow_and_changes_nothing(
    projected: tuple[str, Path],
) -> None:
    url, path = projected
    tamper(path)
    before = read_model_rows(path)
    started = asyncio.Event()

    class Tripwire:
        def task(self, description: str, total: int | None = None) -> Task:
            return self

        def advance(self, amount: int) -> None:
            started.set()

        def total(self, total: int | None) -> None:
            return None

    work = asyncio.create_task(rebuild_online(url, batch_size=2, progress=Tripwire()))
    await started.wait()
    assert any(t.startswith("_shadow_") for t in table_names(path))
    work.cancel()  # what Ctrl-C does to the CLI's main task
    with pytest.raises(asyncio.CancelledError):
        await work

    assert read_model_rows(path) == before
    assert not leftovers(path)


async def test_a_rebuild_in_progress_is_left_alone_and_a_dead_ones_shadow_is_dropped(
    projected: tuple[str, Path],
) -> None:
    url, path = projected
    _create_shadow(path, _Plan(projection_names()))  # as a rebuild running elsewhere

    with pytest.raises(RebuildInProgress):
        await rebuild_online(url)
    assert "_shadow_order_views" in table_names(path), "the other rebuild's tables stay"

    with sqlite3.connect(path) as conn:  # that rebuild died two minutes ago
        conn.execute(
            "UPDATE _shadow_projection_checkpoints SET updated_at = datetime('now', '-2 minutes')"
        )
    result = await rebuild_online(url)
    assert result.position == result.head
    assert not leftovers(path)


async def test_in_place_rebuild_repairs_and_bumps_the_generation(
    projected: tuple[str, Path],
) -> None:
    url, path = projected
    expected = read_models_of(path)
    tamper(path)

    result = await rebuild_in_place(url)

    assert read_models_of(path) == expected
    assert (result.swap_seconds, result.generation) == (None, 1)
    assert result.events == result.head == result.position


async def test_a_rebuilds_connections_do_not_zero_deleted_rows_at_a_cost(tmp_path: Path) -> None:
    # SECURE_DELETE: FAST, whatever the SQLite build's default (Debian's is ON)
    url = migrated(tmp_path / "orders.db")
    engine = rebuild_engine(url)
    try:
        async with engine.connect() as conn:
            assert await conn.scalar(text("PRAGMA secure_delete")) == 2
    finally:
        await engine.dispose()
    with EventLog(db_path(url)) as log:
        writer = BulkProjector(log, db_path(url), ["order_views"], batch_size=10)._connect()
        try:
            assert writer.execute("PRAGMA secure_delete").fetchone() == (2,)
        finally:
            writer.close()


def test_unknown_projection_names_are_refused() -> None:
    with pytest.raises(UnknownProjection, match="nope"):
        projection_names(["kitchen", "nope"])
    assert projection_names([]) == ("order_views", "kitchen")


def test_seeded_history_is_projectable(tmp_path: Path) -> None:
    url = migrated(tmp_path / "orders.db")
    orders = seed(url)
    assert len(orders) == 6
    assert read_model_rows(db_path(url), ["order_views"])["order_views"]


async def test_a_projector_that_starts_behind_the_shadow_is_waited_for(
    projected: tuple[str, Path],
) -> None:
    url, path = projected
    with sqlite3.connect(path) as conn:  # no projector ran lately: the rebuild goes to the head
        conn.execute("UPDATE projection_checkpoints SET updated_at = datetime('now', '-1 hour')")
        head = conn.execute("SELECT max(position) FROM events").fetchone()[0]

    def live_projector_at(position: int) -> None:
        with sqlite3.connect(path) as conn:
            conn.execute(
                "UPDATE projection_checkpoints SET position = ?, "
                "updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now') WHERE name != '#generation'",
                (position,),
            )

    read = [0]

    class ServerStarts:
        """When the shadow has read every event, a server starts: its projector is at 5."""

        def task(self, description: str, total: int | None = None) -> Task:
            return self

        def advance(self, amount: int) -> None:
            read[0] += amount
            if read[0] == head:
                live_projector_at(5)

        def total(self, total: int | None) -> None:
            return None

    work = asyncio.create_task(rebuild_online(url, batch_size=10, progress=ServerStarts()))
    await asyncio.sleep(0.5)
    assert not work.done(), "the rebuild waits for the live projector to pass the shadow"
    # Off the event loop: the rebuild's heartbeat may be mid-transaction on aiosqlite, and a
    # blocking write here would stop the loop from ever submitting that commit.
    await asyncio.to_thread(live_projector_at, head)  # it caught up
    result = await asyncio.wait_for(work, 10)

    assert result.position == head
    assert not leftovers(path)


# --- the rebuild's fast path against the live projector ---------------------------------


async def live_projection(url: str, *, batch_size: int) -> dict[str, list[object]]:
    """Project the whole store with the live projector as the server runs it (one-hop writes,
    many batches: orders straddle them); its rows."""
    store = await open_event_store(url)
    engine = create_engine(url)
    try:
        projector = Projector(store, engine, batch_size=batch_size, one_hop_writes=True)
        assert await projector.catch_up() == await store.head_position()
    finally:
        await engine.dispose()
        await store.close()
    return read_models_of(db_path(url))


@pytest.fixture
async def random_history(tmp_path: Path) -> tuple[str, Path, dict[str, list[object]]]:
    """A seeded random history (every command, old-style streams, odd metadata) projected by
    the live projector: the store's URL, its file and the live projector's rows."""
    url = migrated(tmp_path / "orders.db")
    await write_random_history(url, events=900, seed=11)
    expected = await live_projection(url, batch_size=10)
    assert all(expected[table] for table in expected), "every table has rows to compare"
    return url, db_path(url), expected


def wreck(path: Path) -> None:
    """Damage every read-model table: rows changed, dropped and added."""
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE order_views SET view = '{}', status = 'open' WHERE rowid % 3 = 0")
        conn.execute("DELETE FROM order_views WHERE rowid % 5 = 0")
        conn.execute("UPDATE kitchen_tickets SET number = number + 1")
        conn.execute("DELETE FROM kitchen_ticket_items WHERE rowid % 2 = 0")
        conn.execute("INSERT INTO order_numbers VALUES ('ghost', '2026-11-25', 999)")
        conn.execute("UPDATE order_number_counters SET last_number = 99")


@pytest.mark.parametrize(
    ("in_place", "batch_size"), [(True, 1), (True, 7), (True, 5000), (False, 7), (False, 5000)]
)
async def test_a_rebuild_equals_the_live_projector(
    random_history: tuple[str, Path, dict[str, list[object]]], in_place: bool, batch_size: int
) -> None:
    url, path, expected = random_history
    wreck(path)

    rebuild = rebuild_in_place if in_place else rebuild_online
    result = await rebuild(url, batch_size=batch_size)

    assert read_models_of(path) == expected
    assert result.position == result.head == result.events


@pytest.mark.parametrize("in_place", [False, True])
@pytest.mark.parametrize("name", ["order_views", "kitchen"])
async def test_rebuilding_one_projection_equals_the_live_projector_for_its_tables(
    random_history: tuple[str, Path, dict[str, list[object]]], name: str, in_place: bool
) -> None:
    url, path, expected = random_history
    wreck(path)
    wrecked = read_models_of(path)

    rebuild = rebuild_in_place if in_place else rebuild_online
    await rebuild(url, [name], batch_size=50)

    after = read_models_of(path)
    rebuilt = {
        "order_views": ["order_views"],
        "kitchen": ["kitchen_tickets", "kitchen_ticket_items"],
    }
    numbering = ["order_numbers", "order_number_counters"]
    # In place, the numbering is replayed with any projection (as the projector's reset
    # does); online, it is swapped in with order_views only.
    renumbered = in_place or name == "order_views"
    for table in after:
        if table == "projection_checkpoints":
            continue
        if table in rebuilt[name] or (table in numbering and renumbered):
            assert after[table] == expected[table], table
        else:
            assert after[table] == wrecked[table], f"{table} was not asked for"
    checkpoints = dict((n, p) for n, p, _ in after["projection_checkpoints"])
    assert checkpoints[name] == max(p for _, p, _ in expected["projection_checkpoints"])


async def both_failures(
    url: str, stream_id: str, bad_event: NewEvent
) -> tuple[int, ProjectionFailed, ProjectionFailed]:
    """Append ``bad_event`` to the store at ``url``, then more history; its position and
    how the live projector and the rebuild each fail on it."""
    store = await open_event_store(url)
    try:
        bad = (await store.append(stream_id, [bad_event], ANY)).last_position
        await write_history(url, prefix="after")
    finally:
        await store.close()
    with pytest.raises(ProjectionFailed) as live:
        await live_projection(url, batch_size=3)
    with pytest.raises(ProjectionFailed) as fast:
        await rebuild_in_place(url, batch_size=3)
    return bad, live.value, fast.value


async def test_an_event_that_does_not_fold_stops_the_rebuild_where_the_projector_stops(
    projected: tuple[str, Path],
) -> None:
    url, path = projected
    # an item bumped on an order that was never placed
    bumped = to_new_event(ItemBumped("nobody", "i-1"), "e-bad", {"actor": "pos-1"})
    bad, live, fast = await both_failures(url, "nobody", bumped)
    assert fast.position == live.position == bad
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT name, position, last_error FROM projection_checkpoints WHERE name != ?",
            ("#generation",),
        ).fetchall()
    assert {name for name, _, _ in rows} == {"order_views", "kitchen", "order_numbers"}
    assert all(position < bad and error and "position" in error for _, position, error in rows)


@pytest.mark.parametrize(
    ("type_name", "version", "data"),
    [
        ("OrderExploded", 1, {"order_id": "o"}),
        ("ItemBumped", 9, {"order_id": "o", "item_id": "i-1"}),
        ("ItemBumped", 1, {"order_id": "o"}),
        ("OrderStatusChanged", 1, {"order_id": "o", "from_status": "sent", "to_status": "gone"}),
        ("ItemsFired", 1, {"order_id": "o", "item_ids": 5}),
    ],
    ids=["unknown type", "newer version", "missing field", "unknown status", "not a list"],
)
async def test_an_event_that_does_not_decode_fails_the_rebuild_as_it_fails_the_projector(
    projected: tuple[str, Path], type_name: str, version: int, data: dict[str, object]
) -> None:
    url, _ = projected
    bad_event = NewEvent("e-bad", type_name, data, {"actor": "pos-1"}, version)
    bad, live, fast = await both_failures(url, "o", bad_event)
    assert fast.position == live.position == bad
    assert str(fast) == str(live)
