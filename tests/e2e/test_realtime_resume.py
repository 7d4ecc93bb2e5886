"""Gapless resume on a real server: under concurrent load, across a restart, via the client."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from interfaces.client import OrderServiceClient, SubscriptionError
from tests.e2e.orders import item, new_order, ok, place
from tests.e2e.realtime_support import JSON, Socket, eventually, head, store_events
from tests.e2e.server import LiveServer

pytestmark = pytest.mark.anyio

LOAD_EVENTS = 1000
WRITERS = 8
EVENTS_PER_ORDER = 9
GRILL_EVENTS = BAR_EVENTS = 5
"""Per order: fired (which sends it), the station's 2 bumps, ready, served (completed is off
the board)."""
LIVE = ("open", "sent", "preparing", "ready", "served")


async def run_order(http: httpx.AsyncClient) -> None:
    """One order's life in 4 commands and ``EVENTS_PER_ORDER`` events: placed and fired (the
    firing sends it); 4 items bumped and the order ready; served; completed."""
    lines = [item("Steak"), item("Beer", station="bar"), item("Fries"), item("Wine", station="bar")]
    order = (await place(http, new_order(*lines)))["order"]
    for status in ("ready", "served", "completed"):
        ok(await http.patch(f"/api/orders/{order['id']}/status", json={"status": status}))


async def write_load(http: httpx.AsyncClient, events: int) -> None:
    """At least ``events`` events, from ``WRITERS`` concurrent POS terminals."""
    orders = iter(range(-(-events // EVENTS_PER_ORDER)))

    async def writer() -> None:
        for _ in orders:
            await run_order(http)

    await asyncio.gather(*(writer() for _ in range(WRITERS)))


@dataclass
class Resumer:
    """Connects, joins with ``since``, takes a few events, drops the socket; again and again."""

    base_url: str
    join: str
    payload: JSON
    room: str
    first_since: int
    positions: list[int] = field(default_factory=list)
    connections: int = 0

    @property
    def since(self) -> int:
        return self.positions[-1] if self.positions else self.first_since

    async def session(self, rng: random.Random, until: int | None = None) -> None:
        async with Socket(self.base_url) as sock:
            self.connections += 1
            ack = await sock.join(self.join, {**self.payload, "since": self.since})
            assert ack["room"] == self.room and "snapshot" not in ack
            if until is not None:
                await eventually(lambda: _last(sock, self.room, self.since) >= until, 20)
            elif rng.random() < 0.7:  # otherwise drop it at once, in the middle of its catch-up
                wanted = rng.randint(1, 40)
                await _at_most(lambda: len(sock.positions(self.room)) >= wanted, 0.5)
        self.positions.extend(sock.positions(self.room))

    async def churn(self, done: asyncio.Event, seed: int, progress: Callable[[], int]) -> None:
        """Sessions until ``done``; offline between them while ``progress`` moves on."""
        rng = random.Random(seed)
        while not done.is_set():
            await self.session(rng)
            target = progress() + rng.randint(20, 100)
            await _at_most(lambda t=target: done.is_set() or progress() >= t, 2)


def _last(sock: Socket, room: str, default: int) -> int:
    positions = sock.positions(room)
    return positions[-1] if positions else default


async def _at_most(check: Any, timeout: float) -> None:
    """Poll ``check`` for up to ``timeout`` s (load shaping: not reaching it is fine)."""
    with contextlib.suppress(AssertionError):
        await eventually(check, timeout)


async def test_resume_under_load_has_no_gap_and_no_duplicate(
    live_server: LiveServer, client: httpx.AsyncClient
) -> None:
    for _ in range(5):
        await run_order(client)
    start = await head(client)
    url = live_server.base_url
    rng = random.Random(7)
    async with Socket(url) as kitchen_ref, Socket(url) as grill_ref, Socket(url) as snap:
        await kitchen_ref.join("join:kitchen", {"since": 0})
        await grill_ref.join("join:kitchen", {"since": 0, "station": "grill"})
        rooms = [("join:orders", {}, "orders")] * 10 + [("join:kitchen", {}, "kitchen")] * 5
        rooms += [("join:kitchen", {"station": "grill"}, "kitchen:grill")] * 5
        resumers = [Resumer(url, j, p, r, rng.randint(0, start)) for j, p, r in rooms]
        done = asyncio.Event()
        progress = lambda: len(kitchen_ref.events())  # noqa: E731
        churn = [asyncio.create_task(r.churn(done, i, progress)) for i, r in enumerate(resumers)]
        load = asyncio.create_task(write_load(client, LOAD_EVENTS))
        await eventually(lambda: len(kitchen_ref.events()) > 50, 30)
        snapshot_ack = await snap.join("join:orders")  # a snapshot join in the middle of it
        await load
        done.set()
        await asyncio.gather(*churn)

        final = await head(client)
        assert final >= start + LOAD_EVENTS
        stored = [e["position"] for e in await store_events(client)]
        assert stored == list(range(1, final + 1))
        await eventually(lambda: _last(snap, "orders", 0) == final, 20)
        expected = {
            "orders": stored,
            "kitchen": kitchen_ref.positions("kitchen"),
            "kitchen:grill": grill_ref.positions("kitchen:grill"),
        }
        await eventually(lambda: _last(kitchen_ref, "kitchen", 0) == expected["kitchen"][-1])
        for resumer in resumers:  # a last resume, to the end of its room
            await resumer.session(rng, until=expected[resumer.room][-1])

    for room in ("kitchen", "kitchen:grill"):
        assert _increasing(expected[room]) and expected[room][-1] > start
    for resumer in resumers:
        want = [p for p in expected[resumer.room] if p > resumer.first_since]
        assert resumer.connections >= 3, resumer.connections
        assert resumer.positions == want, (resumer.room, resumer.first_since)
    snap_positions = snap.positions("orders")
    assert snap_positions == [p for p in stored if p > snapshot_ack["position"]]
    await _snapshot_plus_events_is_the_state(client, snapshot_ack, snap.events("orders"))


def _increasing(positions: list[int]) -> bool:
    return all(a < b for a, b in itertools.pairwise(positions))


async def _snapshot_plus_events_is_the_state(
    client: httpx.AsyncClient, ack: JSON, events: list[JSON]
) -> None:
    state = {view["id"]: view for view in ack["snapshot"]}
    for event in events:
        state[event["order_id"]] = event["order"]
    live = {oid: view for oid, view in state.items() if view and view["status"] in LIVE}
    page = ok(await client.get("/api/orders", params={"status": list(LIVE), "limit": 500}))
    assert page["next_cursor"] is None
    assert live == {view["id"]: view for view in page["items"]}


BURST_SCREENS = 30
BURST_EVENTS = 300


async def test_a_burst_of_snapshot_joins_under_load_misses_nothing(
    live_server: LiveServer, client: httpx.AsyncClient
) -> None:
    """Screens reconnecting together share each room's snapshot read (``resume.py``): one
    that took a read begun before it joined replays what was published in between. Every
    one ends with the state, snapshot plus events, with no gap and no duplicate."""
    for _ in range(5):
        await run_order(client)
    start = await head(client)
    async with contextlib.AsyncExitStack() as stack:
        url = live_server.base_url
        screens = [await stack.enter_async_context(Socket(url)) for _ in range(BURST_SCREENS)]
        watch = await stack.enter_async_context(Socket(url))
        before = await watch.join("join:orders")
        assert before["position"] == start, before
        load = asyncio.create_task(write_load(client, BURST_EVENTS))
        await eventually(lambda: len(watch.events()) > 20, 20)  # in the middle of the load
        acks = await asyncio.gather(*(join_soon(screen, n) for n, screen in enumerate(screens)))
        await load
        final = await head(client)
        stored = [e["position"] for e in await store_events(client)]
        assert final >= start + BURST_EVENTS
        await eventually(lambda: _last(watch, "orders", 0) == final, 20)
        for screen, ack in zip(screens, acks, strict=True):
            # The snapshot is the state at the position the ack gives, not older or newer.
            assert by_id(ack["snapshot"]) == live_at(before, watch.events("orders"), ack)
            await eventually(lambda s=screen: _last(s, "orders", 0) == final, 20)
            assert screen.positions("orders") == [p for p in stored if p > ack["position"]]
            await _snapshot_plus_events_is_the_state(client, ack, screen.events("orders"))


async def join_soon(screen: Socket, n: int) -> JSON:
    """``join:orders`` after ``n`` ms: the joins overlap each other's reads and the events
    published meanwhile (a join that arrives while a read runs takes that read)."""
    await asyncio.sleep(n / 1000)
    return await screen.join("join:orders")


def by_id(views: list[JSON]) -> dict[str, JSON]:
    return {view["id"]: view for view in views}


def live_at(before: JSON, events: list[JSON], ack: JSON) -> dict[str, JSON]:
    """The live orders at ``ack``'s position: the ``before`` snapshot, then every event up
    to that position (each carries its order's view after it)."""
    state = by_id(before["snapshot"])
    for event in events:
        if event["position"] <= ack["position"]:
            state[event["order_id"]] = event["order"]
    return {oid: view for oid, view in state.items() if view and view["status"] in LIVE}


async def test_resume_after_a_restart_rebuilds_from_the_store(
    live_server: LiveServer, client: httpx.AsyncClient
) -> None:
    async with Socket(live_server.base_url) as before:
        await before.join("join:orders", {"since": 0})
        await before.join("join:kitchen", {"since": 0, "station": "bar"})
        first = (await place(client))["position"]
        await run_order(client)
        unsent = (await place(client, new_order(fire=False)))["id"]
        ok(await client.delete(f"/api/orders/{unsent}"))
        pushed = await head(client)
        await eventually(lambda: _last(before, "orders", 0) == pushed)
        await eventually(lambda: len(before.events("kitchen:bar")) == BAR_EVENTS)

    live_server.restart()
    late = (await place(client))["position"]
    async with Socket(live_server.base_url) as after:
        await after.join("join:orders", {"since": first})
        await after.join("join:kitchen", {"since": 0, "station": "bar"})
        await eventually(lambda: _last(after, "orders", 0) == late)
        await eventually(lambda: len(after.events("kitchen:bar")) == BAR_EVENTS)

    replayed = {p["position"]: p for p in after.events("orders") if p["position"] <= pushed}
    live = {p["position"]: p for p in before.events("orders") if p["position"] > first}
    placed_unsent = next(p for p, m in live.items() if m["order_id"] == unsent)
    assert live[placed_unsent]["order"]["number"] is not None
    assert replayed[placed_unsent]["order"].pop("number") is None, "no view keeps its number"
    live[placed_unsent]["order"].pop("number")
    assert replayed == live, "a rebuilt message is the message that was pushed"
    assert after.events("kitchen:bar") == before.events("kitchen:bar")
    assert after.positions("orders") == list(range(first + 1, late + 1))


async def test_leaving_during_a_catch_up_stops_it(
    live_server: LiveServer, client: httpx.AsyncClient
) -> None:
    for _ in range(10):
        await run_order(client)
    async with Socket(live_server.base_url) as watcher, Socket(live_server.base_url) as sock:
        await watcher.join("join:orders")
        await sock.join("join:orders", {"since": 0})
        await sock.call("leave:orders")
        count = len(sock.events())
        order_id = (await place(client))["id"]
        await eventually(lambda: len(watcher.about(order_id)) == 2)  # placed, fired
        assert sock.about(order_id) == [] and len(sock.events()) == count
        assert _increasing(sock.positions("orders"))


async def test_the_python_client_resumes_by_itself(live_server: LiveServer) -> None:
    async with OrderServiceClient(live_server.base_url, reconnect_delay=0.01) as api:
        await run_order(api.http)
        position = await head(api.http)
        async with (
            api.subscribe("orders") as orders,
            api.subscribe("kitchen:grill", since=0) as grill,
        ):
            assert orders.snapshot == [] and orders.position == position
            for connections in range(1, 4):
                await run_order(api.http)
                await api.disconnect_socket()
                await eventually(lambda c=connections: api.connections > c)
            await run_order(api.http)
            final = await head(api.http)
            got = [(await orders.next(10))["position"] for _ in range(final - position)]
            assert got == list(range(position + 1, final + 1))
            grill_positions = [(await grill.next(10))["position"] for _ in range(5 * GRILL_EVENTS)]
            assert _increasing(grill_positions) and api.connections >= 4
        with pytest.raises(SubscriptionError) as refused:
            async with api.subscribe("kitchen:no such station"):
                pass
        assert refused.value.error["code"] == "invalid_payload"


async def test_the_ack_comes_before_the_joins_events(
    live_server: LiveServer, client: httpx.AsyncClient
) -> None:
    for _ in range(3):
        await run_order(client)
    async with Socket(live_server.base_url) as sock:
        acked: list[JSON] = []

        def ack(payload: JSON) -> None:
            acked.append(payload)
            sock.received.append(("ack", payload))

        await sock.sio.emit("join:orders", {"since": 0}, callback=ack)
        load = asyncio.create_task(run_order(client))
        await sock.sio.emit("join:kitchen", callback=ack)
        await load
        await eventually(lambda: len(acked) == 2)
        await run_order(client)  # surely after the kitchen join
        final = await head(client)
        await eventually(lambda: _last(sock, "orders", 0) == final)
    order = [(event, payload.get("room")) for event, payload in sock.received]
    for room in ("orders", "kitchen"):
        ack_at = order.index(("ack", room))
        events_at = [i for i, (event, r) in enumerate(order) if event != "ack" and r == room]
        assert events_at and min(events_at) > ack_at, room
    assert sock.positions("orders") == list(range(1, final + 1))
