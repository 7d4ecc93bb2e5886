"""Live room messages written straight to websockets arrive exactly as those that go
through engine.io's queues: on lean connections (``interfaces/realtime/lean.py``, the
default for Socket.IO opened over a WebSocket) and on engine.io's own websockets with
straight writes to idle ones (``interfaces/realtime/direct.py``, lean connections off).

- Under concurrent commands, subscribers in three rooms get every message of their room
  once, by position (the ``orders`` room: every stored event), and a socket that joins
  with ``since: 0`` meanwhile (its ack and replay go first; live messages go straight
  once nothing is in flight) ends with the same kitchen messages. The sockets' class (lean)
  or the links' counter (engine.io) shows the straight path was taken.
- The same commands on servers with lean connections, with straight writes only, and with
  neither (every message through engine.io's queues) give every room the same messages in
  the same order.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.e2e.orders import item, new_order, ok, place
from tests.e2e.realtime_support import Socket, eventually, head, store_events
from tests.e2e.server import LiveServer, migrated_database, server_settings

pytestmark = pytest.mark.anyio

JOINS = [
    ("join:orders", {}, "orders"),
    ("join:kitchen", {}, "kitchen"),
    ("join:kitchen", {"station": "grill"}, "kitchen:grill"),
]


MODES = {
    "lean": {},
    "engineio-straight": {"ws_lean_sockets": False},
    "engineio-queues": {"ws_lean_sockets": False, "ws_direct_writes": False},
}
"""Settings of the three ways a websocket subscriber can be served."""


def engineio(server: LiveServer) -> Any:
    assert server.server is not None
    return server.server.config.app.realtime.server.eio


def frames_written(server: LiveServer) -> int:
    return int(engineio(server)._async["websocket"].links.frames_written)


def socket_classes(server: LiveServer) -> set[str]:
    return {type(s).__name__ for s in engineio(server).sockets.values()}


async def subscribed(base_url: str) -> Socket:
    sock = await Socket(base_url).connect()
    for join, payload, _ in JOINS:
        await sock.join(join, payload)
    return sock


async def burst(client: httpx.AsyncClient, n: int) -> None:
    """Concurrent commands, so that batches carry several events for each socket."""
    bodies = [new_order(item("Burger"), item("Beer", station="bar")) for _ in range(6)]
    placed = await asyncio.gather(*(place(client, body) for body in bodies))
    await asyncio.gather(
        *(
            client.patch(f"/api/orders/{order['id']}/status", json={"status": "preparing"})
            for order in placed[n % 2 :: 2]
        )
    )


@pytest.mark.parametrize("mode", ["lean", "engineio-straight"])
async def test_straight_writes_keep_every_room_complete_and_in_order(
    mode: str, tmp_path: Any
) -> None:
    url = migrated_database(tmp_path / "direct.db")
    with LiveServer(server_settings(url, **MODES[mode])) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            await straight_writes_scenario(server, client, lean=mode == "lean")


async def straight_writes_scenario(
    live_server: LiveServer, client: httpx.AsyncClient, *, lean: bool
) -> None:
    sock = await subscribed(live_server.base_url)
    late = Socket(live_server.base_url)
    try:
        before = 0 if lean else frames_written(live_server)
        for n in range(4):
            await burst(client, n)
        await late.connect()
        await late.join("join:kitchen", {"since": 0})
        for n in range(4):
            await burst(client, n)
        last = await head(client)
        await eventually(lambda: sock.positions("orders")[-1:] == [last], 20, "every event")
        kitchen_last = sock.positions("kitchen")[-1]
        await eventually(lambda: late.positions("kitchen")[-1:] == [kitchen_last], 20, "catch-up")

        assert sock.positions("orders") == [e["position"] for e in await store_events(client)]
        for _, _, room in JOINS:
            positions = sock.positions(room)
            assert positions == sorted(set(positions)), room
        assert late.named("kitchen") == sock.named("kitchen")
        if lean:
            assert socket_classes(live_server) == {"LeanSocket"}
        else:
            assert socket_classes(live_server) == {"AsyncSocket"}
            assert frames_written(live_server) > before, "the straight path was not taken"
    finally:
        await late.close()
        await sock.close()


def shape(sock: Socket, room: str) -> list[tuple[Any, ...]]:
    """What a room's subscriber got, without the ids and times that differ between runs."""
    return [
        (event, p["position"], p["event_type"], p["order_version"], p["order"]["status"])
        for event, p in sock.named(room)
    ]


async def test_straight_and_queued_messages_are_the_same(tmp_path: Any) -> None:
    shapes = []
    for mode, settings in MODES.items():
        url = migrated_database(tmp_path / f"{mode}.db")
        with LiveServer(server_settings(url, **settings)) as server:
            driver = engineio(server)._async["websocket"]
            assert driver.links.direct is (mode != "engineio-queues")
            async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
                sock = await subscribed(server.base_url)
                lean = {"LeanSocket"} if mode == "lean" else {"AsyncSocket"}
                assert socket_classes(server) == lean
                try:
                    for _ in range(3):
                        order = await place(client, new_order(item(), item("Beer", station="bar")))
                        path = f"/api/orders/{order['id']}/status"
                        ok(await client.patch(path, json={"status": "preparing"}))
                    last = await head(client)
                    await eventually(lambda s=sock, n=last: s.positions("orders")[-1:] == [n])
                    shapes.append({room: shape(sock, room) for _, _, room in JOINS})
                finally:
                    await sock.close()
    assert shapes[0] == shapes[1] == shapes[2]
    assert all(shapes[0].values())
