"""Looking at a store file: an order at a point in time, its history, status, stats, tail."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from infrastructure.read_models import ReadModels, create_engine
from infrastructure.replay.inspect import (
    OrderNotFound,
    order_at,
    order_history,
    projection_status,
    store_stats,
    tail,
)
from infrastructure.replay.source import EventLog
from tests.integration.replay_support import (
    NEXT_DAY,
    db_path,
    migrated,
    seed,
)


@pytest.fixture
def seeded(tmp_path: Path) -> tuple[str, list[str]]:
    """A store and its orders in the order placed (per round: served, voided, discarded,
    cancelled, two on the next day)."""
    url = migrated(tmp_path / "orders.db")
    return url, seed(url, rounds=2)


@pytest.fixture
def url(seeded: tuple[str, list[str]]) -> str:
    return seeded[0]


@pytest.fixture
def orders(seeded: tuple[str, list[str]]) -> list[str]:
    return seeded[1]


@pytest.fixture
def log(url: str) -> EventLog:
    with EventLog(db_path(url)) as log:
        yield log  # type: ignore[misc]


@pytest.mark.anyio
async def test_the_order_now_equals_its_read_model_view(
    url: str, log: EventLog, orders: list[str]
) -> None:
    engine = create_engine(url)
    try:
        for order_id in orders:
            assert order_at(log, order_id).view == await ReadModels(engine).get_order(order_id)
    finally:
        await engine.dispose()


def test_the_order_as_it_stood_at_a_position(log: EventLog, orders: list[str]) -> None:
    history = order_history(log, orders[0])
    assert [e.type for e in history][:3] == ["OrderPlaced", "ItemsFired", "ItemBumped"]

    placed = order_at(log, orders[0], position=history[0].position)
    assert placed.view is not None and placed.view["status"] == "open"
    assert placed.view["number"] == 1 and placed.version == 1
    fired = order_at(log, orders[0], position=history[1].position)  # the firing sends it
    assert fired.version == 2 and fired.view is not None and fired.view["status"] == "sent"
    assert [i["status"] for i in fired.view["items"]] == ["sent", "sent"]
    later = order_at(log, orders[0], position=history[2].position)  # one item bumped
    assert later.version == 3 and later.view is not None
    assert [i["status"] for i in later.view["items"]] == ["ready", "sent"]
    assert order_at(log, orders[0]).view["status"] == "completed"  # type: ignore[index]


def test_the_order_as_it_stood_at_a_time(log: EventLog, orders: list[str]) -> None:
    history = order_history(log, orders[0])
    at = history[2].recorded_at
    assert order_at(log, orders[0], at_time=at).version == 3
    with pytest.raises(OrderNotFound, match="did not exist yet"):
        order_at(log, orders[0], at_time=history[0].recorded_at - timedelta(seconds=1))


def test_ticket_numbers_count_per_business_day(log: EventLog) -> None:
    numbers = {}
    for event in tail(log, after=0, limit=1000, type_="OrderPlaced"):
        view = order_at(log, event.stream_id, position=event.position).view
        assert view is not None
        numbers.setdefault(view["business_day"], []).append(view["number"])
    assert numbers == {"2026-11-25": [1, 2, 3, 4, 5, 6, 7, 8], NEXT_DAY: [1, 2, 3, 4]}


def test_a_discarded_order_has_no_view_and_unknown_orders_are_not_found(log: EventLog) -> None:
    discarded = next(e.stream_id for e in tail(log, after=0, limit=1000, type_="OrderDiscarded"))
    assert order_at(log, discarded).view is None
    with pytest.raises(OrderNotFound):
        order_at(log, "no-such-order")


def test_status_stats_and_tail(url: str, log: EventLog, orders: list[str]) -> None:
    with sqlite3.connect(db_path(url)) as conn:
        conn.execute("UPDATE projection_checkpoints SET position = 3, last_error = 'boom' "
                     "WHERE name = 'kitchen'")  # fmt: skip
    status = projection_status(log)
    by_name = {p.name: p for p in status.projections}
    assert list(by_name) == ["order_views", "kitchen", "order_numbers"]
    assert by_name["order_views"].lag == 0 and by_name["order_views"].position == status.head
    assert (by_name["kitchen"].lag, by_name["kitchen"].last_error) == (status.head - 3, "boom")

    stats = store_stats(log)
    assert stats.events == stats.head == status.head and stats.streams == 12
    assert sum(stats.types.values()) == stats.events and stats.types["OrderPlaced"] == 12
    assert stats.first_recorded_at is not None and stats.size > 0

    last = tail(log, limit=3)
    assert [e.position for e in last] == [stats.head - 2, stats.head - 1, stats.head]
    assert [e.position for e in tail(log, after=2, limit=2)] == [3, 4]
    assert {e.stream_id for e in tail(log, stream=orders[0], limit=100)} == {orders[0]}
