"""Socket.IO rooms on a real server: joins and leaves, snapshots, event names, routing."""

from __future__ import annotations

import gc
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from interfaces.realtime.models import ACKS, SERVER_EVENTS
from interfaces.realtime.rooms import WIRE_EVENTS
from tests.e2e.orders import item, new_order, ok, place
from tests.e2e.realtime_support import Socket, eventually, head, store_events
from tests.e2e.server import LiveServer, server_settings

pytestmark = pytest.mark.anyio

ROOMS = [
    ("join:orders", "leave:orders", {}, "orders"),
    ("join:kitchen", "leave:kitchen", {}, "kitchen"),
    ("join:kitchen", "leave:kitchen", {"station": "grill"}, "kitchen:grill"),
]


@pytest.fixture
async def watcher(live_server: LiveServer) -> AsyncIterator[Socket]:
    """A socket in the ``orders`` room: it shows when an event has been pushed."""
    async with Socket(live_server.base_url) as sock:
        await sock.join("join:orders")
        yield sock


async def pushed(watcher: Socket, order_id: str, count: int = 1) -> None:
    await eventually(lambda: len(watcher.about(order_id)) >= count, what=f"events of {order_id}")


async def test_join_and_leave_every_room(
    live_server: LiveServer, client: httpx.AsyncClient, watcher: Socket
) -> None:
    order_id = (await place(client))["id"]
    rooms = [*ROOMS, ("join:order", "leave:order", {"order_id": order_id}, f"order:{order_id}")]
    async with Socket(live_server.base_url) as sock:
        for join, leave, payload, room in rooms:
            ack = await sock.join(join, payload)
            assert ack["room"] == room
            ACKS[join][0].model_validate(ack)
            left = await sock.call(leave, payload)
            assert left == {"ok": True, "room": room, "position": left["position"]}
            ACKS[leave][0].model_validate(left)
        await ok_status(client, order_id, "preparing")
        await pushed(watcher, order_id, 3)  # placed, fired (now sent), preparing
        assert sock.events() == [], "left every room: nothing arrives"


async def ok_status(client: httpx.AsyncClient, order_id: str, status: str) -> None:
    ok(await client.patch(f"/api/orders/{order_id}/status", json={"status": status}))


async def test_snapshots_reflect_the_read_models(
    live_server: LiveServer, client: httpx.AsyncClient
) -> None:
    fired = (await place(client, new_order(item("Steak"), item("Wine", station="bar"))))["order"]
    unsent = (await place(client, new_order(item("Soup"), fire=False)))["order"]
    position = await head(client)
    async with Socket(live_server.base_url) as sock:
        orders = await sock.join("join:orders")
        assert orders["position"] == position
        assert [o["id"] for o in orders["snapshot"]] == [unsent["id"], fired["id"]]
        assert orders["snapshot"][1] == ok(await client.get(f"/api/orders/{fired['id']}"))

        kitchen = await sock.join("join:kitchen")
        board = ok(await client.get("/api/kitchen/tickets"))
        assert kitchen["snapshot"] == board["tickets"]
        assert [t["order_id"] for t in kitchen["snapshot"]] == [fired["id"]]

        bar = await sock.join("join:kitchen", {"station": "bar"})
        assert [i["name"] for t in bar["snapshot"] for i in t["items"]] == ["Wine"]

        one = await sock.join("join:order", {"order_id": unsent["id"]})
        assert one["snapshot"]["id"] == unsent["id"] and one["position"] == position
        none = await sock.join("join:order", {"order_id": "no-such-order"})
        assert "snapshot" in none and none["snapshot"] is None

        resumed = await sock.join("join:orders", {"since": position})
        assert "snapshot" not in resumed


async def test_every_event_type_has_its_name_and_payload(
    live_server: LiveServer, client: httpx.AsyncClient
) -> None:
    async with Socket(live_server.base_url) as sock:
        await sock.join("join:orders")
        order = await place(client, new_order(item("Burger"), item("Fries"), fire=False))
        order_id = order["id"]
        await sock.join("join:order", {"order_id": order_id})
        burger, fries = (i["id"] for i in order["order"]["items"])
        path = f"/api/orders/{order_id}"
        ok(await client.patch(path, json={"table_number": 9}))
        added = ok(await client.post(f"{path}/items", json={"items": [item("Salad")]}))
        salad = added["order"]["items"][2]["id"]
        ok(await client.patch(f"{path}/items/{fries}", json={"quantity": 3}))
        ok(await client.post(f"{path}/hold", json={"item_ids": [salad]}))
        ok(await client.post(f"{path}/hold", json={"item_ids": [salad], "release": True}))
        ok(await client.delete(f"{path}/items/{salad}"))
        ok(await client.post(f"{path}/fire", json={}))
        ok(await client.post(f"{path}/items/{burger}/bump"))
        ok(await client.post(f"{path}/items/{burger}/recall"))
        ok(await client.post(f"{path}/items/{fries}/void", json={"reason": "burnt"}))
        ok(await client.patch(f"{path}/status", json={"status": "cancelled", "reason": "x"}))
        gone = (await place(client, new_order(fire=False)))["id"]
        ok(await client.delete(f"/api/orders/{gone}"))

        stored = [e for e in await store_events(client) if e["stream_id"] in (order_id, gone)]
        await eventually(lambda: len(sock.events("orders")) == len(stored))
        mine = [e for e in stored if e["stream_id"] == order_id][1:]  # joined after placing
        await eventually(lambda: len(sock.events(f"order:{order_id}")) == len(mine))

    names = sock.named("orders")
    assert [p["position"] for _, p in names] == [e["position"] for e in stored]
    for (name, payload), event in zip(names, stored, strict=True):
        assert name == WIRE_EVENTS[event["type"]]
        SERVER_EVENTS[name].model_validate(payload)
        assert payload["event_id"] == event["event_id"]
        assert payload["order_version"] == event["stream_version"]
        assert payload["data"] == event["data"]
        assert payload["occurred_at"] == event["metadata"]["occurred_at"]
    assert {name for name, _ in names} == set(WIRE_EVENTS.values())
    deleted = [p for name, p in names if name == "order:deleted"]
    assert deleted[0]["order"] is None and deleted[0]["order_id"] == gone
    last = sock.events(f"order:{order_id}")[-1]
    assert last["order"] == ok(await client.get(f"/api/orders/{order_id}"))
    assert all(p["order_id"] == order_id for p in sock.events(f"order:{order_id}"))


async def test_the_kitchen_never_sees_an_unsent_order(
    live_server: LiveServer, client: httpx.AsyncClient, watcher: Socket
) -> None:
    async with Socket(live_server.base_url) as kitchen:
        await kitchen.join("join:kitchen")
        await kitchen.join("join:kitchen", {"station": "grill"})
        unsent = (await place(client, new_order(item("Soup"), fire=False)))["id"]
        path = f"/api/orders/{unsent}"
        ok(await client.patch(path, json={"notes": "allergy"}))
        ok(await client.post(f"{path}/items", json={"items": [item("Bread")]}))
        marker = (await place(client))["id"]
        await eventually(lambda: len(kitchen.about(marker, "kitchen:grill")) >= 1)
        assert kitchen.about(unsent) == []
        assert len(watcher.about(unsent)) == 3

        fired = ok(await client.post(f"{path}/fire", json={}))
        await eventually(lambda: len(kitchen.about(unsent, "kitchen")) == 1)
        (created,) = kitchen.about(unsent, "kitchen")
        assert created["event_type"] == "ItemsFired" and created["position"] == fired["position"]
        assert ("order:created", created) in kitchen.named("kitchen")
        assert created["order"]["status"] == "sent", "the firing itself sends the order"

        order = ok(await client.get(path))
        for line in order["items"]:
            ok(await client.post(f"{path}/items/{line['id']}/bump"))
        ok(await client.patch(f"{path}/status", json={"status": "served"}))
        ok(await client.patch(f"{path}/status", json={"status": "completed"}))
        await pushed(watcher, unsent, 9)  # 3 before firing, 1 firing, 3 bumping, 2 statuses
        second = (await place(client))["id"]
        await eventually(lambda: len(kitchen.about(second, "kitchen")) >= 1)
        board = kitchen.about(unsent, "kitchen")
        assert [p["event_type"] for p in board] == [
            "ItemsFired",
            "ItemBumped",
            "ItemBumped",
            "OrderStatusChanged",
            "OrderStatusChanged",
        ]
        seen = [p["data"].get("to_status") for p in board]
        assert seen[-2:] == ["ready", "served"], "the ticket leaves the board; later ones stay away"
        assert [p["position"] for p in board] == sorted({p["position"] for p in board})


async def test_station_rooms_only_see_their_items(
    live_server: LiveServer, client: httpx.AsyncClient, watcher: Socket
) -> None:
    async with Socket(live_server.base_url) as grill, Socket(live_server.base_url) as bar:
        await grill.join("join:kitchen", {"station": "grill"})
        await bar.join("join:kitchen", {"station": "bar"})
        order = await place(client, new_order(item("Steak"), item("Beer", station="bar")))
        order_id = order["id"]
        steak, beer = (i["id"] for i in order["order"]["items"])
        ok(await client.post(f"/api/orders/{order_id}/items/{beer}/bump"))
        ok(await client.post(f"/api/orders/{order_id}/items/{steak}/bump"))
        await pushed(watcher, order_id, 2 + 2 + 1)  # placed and fired, 2 bumps, ready
        await eventually(lambda: len(grill.about(order_id)) == 3)
        await eventually(lambda: len(bar.about(order_id)) == 3)

    types = ["ItemsFired", "ItemBumped", "OrderStatusChanged"]
    assert [p["event_type"] for p in grill.about(order_id)] == types
    assert [p["event_type"] for p in bar.about(order_id)] == types
    assert [p["data"].get("item_id") for p in grill.about(order_id)][1] == steak
    assert [p["data"].get("item_id") for p in bar.about(order_id)][1] == beer
    for sock in (grill, bar):
        fired, _, ready = sock.about(order_id)
        assert fired["order"]["status"] == "sent", "the firing itself sends the order"
        assert ready["data"]["to_status"] == "ready"
    assert grill.about(order_id)[2]["position"] == bar.about(order_id)[2]["position"]
    assert grill.about(order_id)[0]["position"] == bar.about(order_id)[0]["position"]
    for sock, station in ((grill, "grill"), (bar, "bar")):
        for payload in sock.about(order_id):
            assert {i["station"] for i in payload["order"]["items"]} == {station}
    assert grill.named("kitchen:grill")[0][0] == "order:created"
    assert bar.named("kitchen:bar")[0][0] == "order:created"


async def test_room_position_heartbeat_in_a_quiet_room(database_url: str) -> None:
    settings = server_settings(database_url, room_position_interval=0.2)
    with LiveServer(settings) as server:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            await place(http)
            position = await head(http)
        async with Socket(server.base_url) as sock:
            await sock.join("join:kitchen", {"station": "grill"})
            await eventually(lambda: any(e == "room:position" for e, _ in sock.received))
            beats = [p for e, p in sock.received if e == "room:position"]
            assert beats[0] == {"room": "kitchen:grill", "position": position}
            SERVER_EVENTS["room:position"].model_validate(beats[0])


async def test_published_events_leave_only_their_texts_behind(
    live_server: LiveServer, client: httpx.AsyncClient
) -> None:
    """What a published event leaves alive is what the garbage collector walks until it
    drops out of the ring (docs/performance.md): while a screen is connected, each event
    is kept as every room's text (bytes), listened to or not, and the projector keeps each
    order's view as the JSON text of its row, not the objects behind them. A look inside
    the running server (same process)."""
    assert live_server.server is not None
    realtime = live_server.server.config.app.realtime
    async with Socket(live_server.base_url) as screen:
        await screen.join("join:kitchen")
        before = realtime.broadcaster.head
        order_ids = [(await place(client))["id"] for _ in range(5)]
        await eventually(lambda: len(screen.events("kitchen")) == 5, what="5 new tickets")

        entries = [e for e in realtime.broadcaster._ring if e.position > before]
        assert len(entries) == 10  # placed, then fired, per order
        for entry in entries:
            held = [o for o in gc.get_referents(entry) if gc.is_tracked(o) and o is not type(entry)]
            assert held == [], f"position {entry.position} keeps {held!r}"
        for order_id in order_ids:
            placed, fired = [e.wires() for e in entries if f"order:{order_id}" in e.wires()]
            assert set(placed) == {"orders", f"order:{order_id}"}
            assert set(fired) == {"orders", f"order:{order_id}", "kitchen", "kitchen:grill"}
            view = ok(await client.get(f"/api/orders/{order_id}"))
            assert json.loads(fired["orders"][2:])[1]["order"] == view
            cached = realtime._sources.projector._cache._orders[order_id]
            assert isinstance(cached[1], str)
            assert json.loads(cached[1]) == view
