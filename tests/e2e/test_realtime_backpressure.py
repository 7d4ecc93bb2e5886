"""Back-pressure on a real server: a subscriber that stops reading is dropped at the bound.

The performance issue's "done when": a subscriber which stops reading is disconnected
once it passes the bound (``send_queue_limit``, ``ORDER_SERVICE_SEND_QUEUE_LIMIT``),
while the others keep receiving, and it then resumes with nothing missing.

The slow subscriber is ``RawSocketIO`` (``raw_socket.py``): it joins the kitchen, then
stops reading its TCP socket, so the server's writes to it block for real and its
Engine.IO queue grows. The others are real ``socketio.AsyncClient``s.

On engine.io's own path (long polling and its upgrade), a disconnected screen that still
does not read has its TCP connection ended once ``ping_timeout`` has passed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from infrastructure.replay.token import HEADER, ensure_token
from tests.e2e.orders import item, new_order, ok, place
from tests.e2e.raw_socket import Closed, RawSocketIO
from tests.e2e.realtime_support import JSON, Socket, eventually, store_events
from tests.e2e.server import LiveServer, server_settings

pytestmark = pytest.mark.anyio

SEND_QUEUE_LIMIT = 20
MAX_ORDERS = 500
"""Orders placed at most while waiting for the drop. Each sends the kitchen 1 event of
~60 KB; the kernel's buffers between the server and the stalled socket hold a few dozen
(46 where this was written: Linux, tcp_wmem max 4 MB), then the bound's 20 are queued."""
AFTER_DROP = 5
"""Orders placed once the slow socket is gone: it must not get their events."""
KITCHEN = {"ItemsFired": "order:created"}
"""What the kitchen gets of an order placed with ``fire``: the firing, a new ticket whose view
is already ``sent`` (``OrderPlaced`` never reaches it; there is no separate status change)."""


def big_order() -> JSON:
    """An order at the API's limits for notes and modifiers: ~60 KB per kitchen event."""
    modifiers = [f"{n:02d}" + "m" * 98 for n in range(20)]
    lines = [item(f"Dish{n}", notes="n" * 1000, modifiers=modifiers) for n in range(20)]
    return new_order(*lines, notes="o" * 1000)


def dropped_for_being_slow(caplog: pytest.LogCaptureFixture, sid: str) -> bool:
    """The namespace logged the socket's disconnect by the server (documented log line)."""
    return any(
        r.name == "interfaces.realtime.namespace"
        and f"socket disconnected sid={sid} " in r.getMessage()
        and r.getMessage().endswith("reason=server disconnect")
        for r in caplog.records
    )


async def kitchen_events(http: httpx.AsyncClient, after: int) -> list[JSON]:
    """The stored events the kitchen room must get after ``after`` (only fired orders are
    placed in this test: every event but ``OrderPlaced``, i.e. the ``ItemsFired``)."""
    return [e for e in await store_events(http, after) if e["type"] in KITCHEN]


def same_events(received: list[tuple[str, JSON]], stored: list[JSON]) -> bool:
    """The same events, in order, under the kitchen's names, each ticket already ``sent``."""
    return [(name, p["position"], p["event_id"], p["order"]["status"]) for name, p in received] == [
        (KITCHEN[e["type"]], e["position"], e["event_id"], "sent") for e in stored
    ]


async def drain_until_disconnect(slow: RawSocketIO) -> list[tuple[str, JSON]]:
    """Read again: every event the server had queued or in flight, up to its ``41``."""
    slow.resume_reading()
    events: list[tuple[str, JSON]] = []
    async with asyncio.timeout(10):
        while True:
            kind, data = RawSocketIO.decode(await slow.receive())
            if kind == "disconnect":
                return events
            assert kind == "event", f"unexpected packet before the disconnect: {kind!r}"
            events.append((data[0], data[1]))


def done_or_dropped(sock: Socket, last: int) -> Callable[[], bool]:
    """Whether ``sock`` has the kitchen event at ``last``, or was disconnected."""
    return lambda: sock.positions("kitchen")[-1:] == [last] or bool(sock.disconnects)


async def resume(base_url: str, since: int, last: int) -> list[tuple[str, JSON]]:
    """Join the kitchen with ``since`` and wait for ``last``: the events, in one session.

    The replay may be longer than ``send_queue_limit``: it is paced by the socket's writer
    (``SocketIOBroadcaster.send_paced``), so a client that reads is never dropped by it."""
    async with Socket(base_url) as back:
        ack = await back.join("join:kitchen", {"since": since})
        assert "snapshot" not in ack, ack
        await eventually(done_or_dropped(back, last), 10, f"the resume from {since}")
        assert back.disconnects == [], (
            f"disconnected ({back.disconnects}) after {len(back.named('kitchen'))} events"
        )
        return back.named("kitchen")


async def test_a_stalled_subscriber_is_dropped_at_the_bound_and_resumes_gapless(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A kitchen screen stops reading: orders go on until the server drops it; a steady
    screen gets every event meanwhile; the stalled one comes back and misses nothing."""
    caplog.set_level(logging.INFO, logger="interfaces.realtime.namespace")
    settings = server_settings(database_url, send_queue_limit=SEND_QUEUE_LIMIT)
    with LiveServer(settings) as server:
        async with (
            httpx.AsyncClient(base_url=server.base_url, timeout=30) as http,
            Socket(server.base_url) as steady,
        ):
            for _ in range(2):  # some history before the joins: the resume must skip it
                await place(http, big_order())
            slow = await RawSocketIO.connect(server.host, server.port)
            try:
                ack = await slow.call("join:kitchen", {})
                assert ack["ok"] is True and ack["room"] == "kitchen", ack
                since = ack["position"]
                slow.stop_reading()
                assert (await steady.join("join:kitchen"))["position"] == since

                placed = 0
                while not dropped_for_being_slow(caplog, slow.sid):
                    assert placed < MAX_ORDERS, (
                        f"the stalled subscriber was not disconnected after {placed} orders "
                        f"({placed} kitchen events; send_queue_limit={SEND_QUEUE_LIMIT})"
                    )
                    await place(http, big_order())
                    placed += 1
                for _ in range(AFTER_DROP):
                    await place(http, big_order())

                expected = await kitchen_events(http, since)
                assert len(expected) == placed + AFTER_DROP
                last = expected[-1]["position"]
                await eventually(
                    lambda: steady.positions("kitchen")[-1:] == [last], 10, "the steady client"
                )
                assert same_events(steady.named("kitchen"), expected), "the steady client"

                # The stalled socket's stream, read now: a gapless prefix, then the
                # server's Socket.IO disconnect; nothing published after the drop.
                drained = await drain_until_disconnect(slow)
                assert same_events(drained, expected[: len(drained)]), [
                    p["position"] for _, p in drained
                ]
                assert len(drained) >= SEND_QUEUE_LIMIT, "dropped before its queue was full"
                assert len(drained) <= len(expected) - AFTER_DROP, len(drained)
            finally:
                await slow.close()

            # It comes back, from where it stopped processing (its join) or from the last
            # event it did get: every kitchen event after that, once, in order.
            resume_points = (since, drained[-1][1]["position"] if drained else since)
            for resume_from in resume_points:
                resumed = await resume(server.base_url, resume_from, last)
                wanted = [e for e in expected if e["position"] > resume_from]
                if resume_from == since:
                    assert len(wanted) > SEND_QUEUE_LIMIT, "this replay is longer than the bound"
                assert same_events(resumed, wanted), resume_from
                assert resumed == [
                    (name, p) for name, p in steady.named("kitchen") if p["position"] > resume_from
                ], "a replayed event differs from the live one"

            assert steady.sio.connected and steady.disconnects == [], steady.disconnects
            assert not dropped_for_being_slow(caplog, steady.sio.get_sid())
            assert ok(await http.get("/health"))["status"] == "ok"
            assert ok(await http.get("/health/ready"))["status"] == "ready"


async def test_a_resume_longer_than_the_bound_completes_in_one_session(database_url: str) -> None:
    """A client resuming past ``send_queue_limit`` events gets them all in one session.

    Without it, a subscriber dropped for being slow that resumes from the last position it
    processed before it stalled would never catch up in one session: at least the bound's
    worth of events is waiting for it, by construction."""
    settings = server_settings(database_url, send_queue_limit=SEND_QUEUE_LIMIT)
    with LiveServer(settings) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            for _ in range(SEND_QUEUE_LIMIT):
                await place(http)
            expected = await kitchen_events(http, 0)
            async with Socket(server.base_url) as back:
                await back.join("join:kitchen", {"since": 0})
                last = expected[-1]["position"]
                await eventually(done_or_dropped(back, last), 10, "the replay or a disconnect")
                assert back.disconnects == [], (
                    f"disconnected ({back.disconnects}) after {len(back.named('kitchen'))} "
                    f"of {len(expected)} events"
                )
                assert same_events(back.named("kitchen"), expected)


REBROADCAST_ORDERS = 120
"""Orders re-broadcast at once: their kitchen events (~60 KB each) are far more than the
kernel's buffers (a few dozen) and the bound (20) hold together."""


async def read_kitchen_events(slow: RawSocketIO, count: int) -> list[tuple[str, JSON]]:
    """Read ``count`` kitchen events (failing on a disconnect before them)."""
    events: list[tuple[str, JSON]] = []
    async with asyncio.timeout(30):
        while len(events) < count:
            kind, data = RawSocketIO.decode(await slow.receive())
            assert kind != "disconnect", f"disconnected after {len(events)} of {count} events"
            if kind == "event" and data[0] in KITCHEN.values():
                events.append((data[0], data[1]))
    return events


async def test_a_rebroadcast_longer_than_the_bound_reaches_a_screen_that_reads(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The admin re-broadcast is paced by each screen's own writer, as a resume is: a range
    far past ``send_queue_limit`` reaches a screen that stalls for a moment and then reads,
    whole and in order, instead of disconnecting it as too slow."""
    caplog.set_level(logging.INFO, logger="interfaces.realtime.namespace")
    settings = server_settings(database_url, send_queue_limit=SEND_QUEUE_LIMIT)
    with LiveServer(settings) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as http:
            for _ in range(REBROADCAST_ORDERS):
                await place(http, big_order())
            expected = await kitchen_events(http, 0)
            head = max(e["position"] for e in await store_events(http, 0))
            slow = await RawSocketIO.connect(server.host, server.port)
            try:
                ack = await slow.call("join:kitchen", {"since": head})
                assert ack["ok"] is True and ack["position"] == head, ack
                slow.stop_reading()
                request = asyncio.create_task(
                    http.post(
                        "/api/admin/rebroadcast",
                        json={"after": 0, "until": head},
                        headers={HEADER: ensure_token(database_url)},
                    )
                )
                await asyncio.sleep(1)  # the screen stalls: the kernel's buffers fill up
                assert not request.done(), "the re-broadcast did not wait for the screen"
                slow.resume_reading()
                received = await read_kitchen_events(slow, len(expected))
                assert same_events(received, expected)
                body = ok(await request)
            finally:
                await slow.close()
            assert body == {
                "events": head,
                "messages": len(expected),
                "screens": 1,
                "dropped": 0,
            }, body
            assert not dropped_for_being_slow(caplog, slow.sid)


async def stalled_screen(server: LiveServer) -> RawSocketIO:
    """A raw kitchen screen that has joined and then stopped reading its TCP socket."""
    slow = await RawSocketIO.connect(server.host, server.port)
    try:
        assert (await slow.call("join:kitchen", {}))["ok"] is True
    except BaseException:
        await slow.close()
        raise
    slow.stop_reading()
    return slow


async def read_to_the_end(slow: RawSocketIO) -> None:
    """Read again: what the kernel still held for ``slow``, then the end of its connection."""
    slow.resume_reading()
    with pytest.raises(Closed):
        async with asyncio.timeout(10):
            while True:
                await slow.receive()


def connection_from(server: LiveServer, address: tuple[str, int]) -> Any:
    """uvicorn's protocol for the connection from ``address``, or None once it is gone."""
    assert server.server is not None
    for conn in list(server.server.server_state.connections):
        if conn.transport.get_extra_info("peername")[:2] == address:
            return conn
    return None


def disconnected_for(caplog: pytest.LogCaptureFixture, sid: str) -> str | None:
    """The reason the namespace logged for ``sid``'s disconnect, if it did."""
    for r in caplog.records:
        message = r.getMessage()
        if r.name == "interfaces.realtime.namespace" and f"disconnected sid={sid} " in message:
            return message.rpartition("reason=")[2]
    return None


@pytest.mark.parametrize("direct_writes", [True, False], ids=["direct-writes", "queues-only"])
@pytest.mark.parametrize("cause", ["server disconnect", "ping timeout"])
async def test_a_stalled_screen_on_engineios_path_is_cut_off_once_disconnected(
    database_url: str, caplog: pytest.LogCaptureFixture, direct_writes: bool, cause: str
) -> None:
    """Engine.IO's own path (what a screen that opens with long polling and then upgrades
    gets; here lean connections are off). A screen that stops reading is disconnected,
    dropped at the bound (``server disconnect``) or, with its buffers full before that,
    for not answering pings (``ping timeout``). If it still does not read ``ping_timeout``
    s later, its TCP connection is ended. Engine.IO's writer waits for the transport to
    drain, and its reader for the writer, so without the cut-off the connection and its
    buffers stay for as long as the peer keeps it open."""
    caplog.set_level(logging.INFO, logger="interfaces.realtime.namespace")
    dropped = cause == "server disconnect"
    settings = server_settings(
        database_url,
        send_queue_limit=SEND_QUEUE_LIMIT if dropped else 10_000,
        ping_interval=25.0 if dropped else 1.0,
        ping_timeout=1.0,
        ws_lean_sockets=False,
        ws_direct_writes=direct_writes,
    )
    with LiveServer(settings) as server:
        assert server.server is not None
        async with (
            httpx.AsyncClient(base_url=server.base_url, timeout=30) as http,
            Socket(server.base_url) as steady,
        ):
            await steady.join("join:kitchen")
            slow = await stalled_screen(server)
            try:
                socket = server.server.config.app.realtime.server.eio.sockets[slow.opened["sid"]]
                assert type(socket).__name__ == "AsyncSocket", "not engine.io's own path"
                placed = 0
                while not (
                    disconnected_for(caplog, slow.sid)
                    if dropped
                    else not connection_from(server, slow.address).writable.is_set()
                ):
                    assert placed < MAX_ORDERS, f"still connected after {placed} orders"
                    await place(http, big_order())
                    placed += 1
                await eventually(lambda: disconnected_for(caplog, slow.sid) is not None, 10)
                assert disconnected_for(caplog, slow.sid) == cause
                assert connection_from(server, slow.address) is not None
                await eventually(
                    lambda: connection_from(server, slow.address) is None, 15, "the cut-off"
                )
                assert steady.sio.connected and steady.disconnects == []
                order = await place(http)
                await eventually(
                    lambda: any(p["order_id"] == order["id"] for _, p in steady.named("kitchen")),
                    10,
                    "the steady screen's next event",
                )
                await read_to_the_end(slow)
            finally:
                await slow.close()
            assert ok(await http.get("/health/ready"))["status"] == "ready"
