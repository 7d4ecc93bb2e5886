"""The read-model queries (``ReadModels``) over rows the projector wrote, and their schema."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, MetaData
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.commands import BumpItem, ChangeStatus, FireItems, VoidItem
from domain.model import OrderStatus, OrderType
from domain.ports import EventStore
from infrastructure.projector import Projector
from infrastructure.read_models import MAX_LIST_LIMIT, InvalidCursor, ReadModels
from infrastructure.read_models.tables import READ_MODEL_TABLES
from tests.integration import test_projector as support
from tests.integration.test_projector import Pos, settled

pytestmark = pytest.mark.anyio

# The same real-SQLite fixtures as the projector tests.
url = support.url
store = support.store
engine = support.engine
pos = support.pos
read_models = support.read_models


@pytest.fixture
async def projector(store: EventStore, engine: AsyncEngine) -> AsyncIterator[Projector]:
    running = Projector(store, engine)
    await running.start()
    yield running
    await running.stop()


def test_the_migration_creates_exactly_the_model_tables(url: str) -> None:
    wanted = MetaData()
    for table in READ_MODEL_TABLES:
        table.to_metadata(wanted)
    sync_engine = create_sync_engine(url.replace("+aiosqlite", ""))
    try:
        with sync_engine.connect() as conn:
            diff = _diff(conn, wanted)
    finally:
        sync_engine.dispose()
    assert diff == []


def _diff(conn: Connection, wanted: MetaData) -> list[object]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    ours = {t.name for t in READ_MODEL_TABLES}
    return [
        d
        for d in compare_metadata(context, wanted)
        if not (d[0] == "remove_table" and d[1].name not in ours)  # the event store's tables
    ]


# --- order detail and list ----------------------------------------------------------------


async def test_unknown_order_is_none(read_models: ReadModels) -> None:
    assert await read_models.get_order("nope") is None


async def test_list_filters_combine(
    pos: Pos, read_models: ReadModels, projector: Projector
) -> None:
    table7, _ = await pos.place("grill", table=7)
    table9, _ = await pos.place("grill", table=9)
    takeout, _ = await pos.place("bar", order_type=OrderType.TAKEOUT)
    delivery_open, _ = await pos.place("bar", order_type=OrderType.DELIVERY, fire=False)
    await pos.run(ChangeStatus(table9, OrderStatus.CANCELLED, "walked out"))
    await settled(projector, pos)

    async def ids(**filters: object) -> list[str]:
        page, cursor = await read_models.list_orders(**filters)  # type: ignore[arg-type]
        assert cursor is None
        return [view["id"] for view in page]

    assert await ids() == [delivery_open, takeout, table9, table7]  # newest first
    assert await ids(status=["sent"]) == [takeout, table7]
    assert await ids(status=["open", "cancelled"]) == [delivery_open, table9]
    assert await ids(order_type="dine_in") == [table9, table7]
    assert await ids(order_type="dine_in", status=["sent"]) == [table7]
    assert await ids(table_number=9) == [table9]
    third = await read_models.get_order(takeout)
    assert third is not None
    since = datetime.fromisoformat(third["created_at"])
    assert await ids(since=since) == [delivery_open, takeout]
    assert await ids(since=since.replace(tzinfo=None)) == [delivery_open, takeout]  # naive: UTC
    assert await ids(since=datetime(2030, 1, 1, tzinfo=UTC)) == []


async def test_cursor_pages_cover_every_order_once_even_while_orders_change(
    pos: Pos, read_models: ReadModels, projector: Projector
) -> None:
    placed = [(await pos.place("grill"))[0] for _ in range(7)]
    await settled(projector, pos)

    seen: list[str] = []
    page, cursor = await read_models.list_orders(limit=3)
    seen += [v["id"] for v in page]
    # An update between pages moves no order between pages: the order is by creation.
    await pos.run(ChangeStatus(placed[0], OrderStatus.PREPARING))
    await settled(projector, pos)
    while cursor is not None:
        page, cursor = await read_models.list_orders(limit=3, cursor=cursor)
        seen += [v["id"] for v in page]
    assert seen == placed[::-1]


async def test_bad_cursor_and_limit_are_refused(read_models: ReadModels) -> None:
    for bad in ("", "not-a-cursor", "eyJ4IjoxfQ", "W10"):
        with pytest.raises(InvalidCursor):
            await read_models.list_orders(cursor=bad)
    for limit in (0, MAX_LIST_LIMIT + 1):
        with pytest.raises(ValueError, match="limit"):
            await read_models.list_orders(limit=limit)


# --- kitchen ----------------------------------------------------------------------------


async def test_kitchen_board_is_oldest_first_and_filters_by_station(
    pos: Pos, read_models: ReadModels, projector: Projector
) -> None:
    first, (f_grill, f_bar) = await pos.place("grill", "bar")
    open_order, (o_grill,) = await pos.place("grill", fire=False)
    second, (s_bar,) = await pos.place("bar", order_type=OrderType.TAKEOUT)
    await settled(projector, pos)

    board = await read_models.kitchen_tickets()
    assert [t["order_id"] for t in board] == [first, second]  # never-fired orders are not there
    ticket = board[0]
    assert ticket == {
        "order_id": first,
        "number": 1,
        "order_type": "dine_in",
        "table_number": 7,
        "status": "sent",
        "notes": None,
        "sent_at": "2026-11-25T18:00:00.000000+00:00",
        "version": 2,
        "position": ticket["position"],
        "items": [
            {
                "id": f_grill,
                "name": "grill dish",
                "quantity": 2,
                "modifiers": ["no onion"],
                "notes": None,
                "station": "grill",
                "status": "sent",
            },
            {
                "id": f_bar,
                "name": "bar dish",
                "quantity": 2,
                "modifiers": ["no onion"],
                "notes": None,
                "station": "bar",
                "status": "sent",
            },
        ],
    }

    grill = await read_models.kitchen_tickets("grill")
    assert [(t["order_id"], [i["id"] for i in t["items"]]) for t in grill] == [(first, [f_grill])]
    bar = await read_models.kitchen_tickets("bar")
    assert [(t["order_id"], [i["id"] for i in t["items"]]) for t in bar] == [
        (first, [f_bar]),
        (second, [s_bar]),
    ]

    # Bumped items stay (ready); a void leaves the line but not the station's live work.
    await pos.run(BumpItem(first, f_grill))
    await pos.run(VoidItem(first, f_bar, "spilled"))
    await pos.run(FireItems(open_order))
    await settled(projector, pos)
    by_station = {
        station: [
            (t["order_id"], [(i["id"], i["status"]) for i in t["items"]])
            for t in await read_models.kitchen_tickets(station)
        ]
        for station in ("grill", "bar")
    }
    assert by_station == {
        "grill": [(first, [(f_grill, "ready")]), (open_order, [(o_grill, "sent")])],
        "bar": [(second, [(s_bar, "sent")])],
    }
    board = await read_models.kitchen_tickets()
    assert [t["order_id"] for t in board] == [first, second, open_order]
    assert board[0]["status"] == "ready"  # every live item of it is ready
    assert await read_models.kitchen_tickets("pastry") == []


async def test_a_snapshot_reports_the_position_it_reflects(
    pos: Pos, read_models: ReadModels, projector: Projector
) -> None:
    async with read_models.snapshot() as empty:
        assert empty.position == 0
        assert await empty.kitchen_tickets() == []
    await pos.place("grill")
    await settled(projector, pos)
    async with read_models.snapshot() as snap:
        assert snap.position == pos.position
        assert len(await snap.kitchen_tickets()) == 1
    checkpoints = await read_models.checkpoints()
    assert checkpoints == {
        "order_views": pos.position,
        "kitchen": pos.position,
        "order_numbers": pos.position,
    }
