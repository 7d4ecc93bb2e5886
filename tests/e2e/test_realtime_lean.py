"""Lean WebSocket connections (``interfaces/realtime/lean.py``) on a real server.

Socket.IO opened straight over a WebSocket is served by the connection's own protocol: the
WebSocket handshake and framing, Engine.IO v4's open, ping/pong and close. These tests
speak those layers by hand (``RawSocketIO`` and raw frames) where a client library would
hide them:

- the handshake and open packet; a message split over continuation frames with a control
  frame between them; a WebSocket ping answered;
- frames a server must refuse close the connection with RFC 6455's code, and the server
  goes on serving;
- Engine.IO pings: a client that answers stays, one that does not is closed with
  ``ping timeout``;
- a subscriber dropped for being slow that still does not read is cut off (its TCP
  connection ends) once ``ping_timeout`` has passed;
- uvicorn's shutdown closes lean connections with 1012;
- long-polling clients, and their upgrade to a WebSocket, keep engine.io's own path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

import httpx
import pytest

from interfaces.realtime.lean import accept_key
from tests.e2e.orders import ok, place
from tests.e2e.raw_socket import Closed, RawSocketIO
from tests.e2e.raw_socket import client_frame as frame
from tests.e2e.realtime_support import Socket, eventually
from tests.e2e.server import LiveServer, server_settings
from tests.e2e.test_realtime_backpressure import (
    big_order,
    dropped_for_being_slow,
    read_to_the_end,
    stalled_screen,
)

pytestmark = pytest.mark.anyio

NAMESPACE_LOG = "interfaces.realtime.namespace"


def close_code(exc: Closed) -> str:
    """The hex close code in ``RawSocketIO``'s ``Closed`` message ("" for a TCP end)."""
    text = str(exc)
    return text.split(" ")[2] if text.startswith("close frame") else ""


def engineio_sockets(server: LiveServer) -> dict[str, Any]:
    assert server.server is not None
    return dict(server.server.config.app.realtime.server.eio.sockets)


def lean_connections(server: LiveServer) -> set[Any]:
    assert server.server is not None
    return set(server.server.config.ws.active)


def disconnect_reason(caplog: pytest.LogCaptureFixture, sid: str) -> str | None:
    for record in caplog.records:
        message = record.getMessage()
        if record.name == NAMESPACE_LOG and f"socket disconnected sid={sid} " in message:
            return message.rsplit("reason=", 1)[1]
    return None


def test_accept_key_is_rfc_6455s() -> None:
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


async def test_a_websocket_open_is_lean_and_speaks_engineio_v4(live_server: LiveServer) -> None:
    raw = await RawSocketIO.connect(live_server.host, live_server.port)
    try:
        opened = raw.opened
        assert opened["upgrades"] == [] and opened["maxPayload"] > 0, opened
        assert opened["pingTimeout"] == int(live_server.settings.ping_timeout * 1000)
        assert type(engineio_sockets(live_server)[opened["sid"]]).__name__ == "LeanSocket"
        assert len(lean_connections(live_server)) == 1

        # One Socket.IO event split over three frames, a WebSocket ping between two of them.
        text = b'421["join:orders",{}]'
        writer = raw._writer
        writer.write(frame(0x1, text[:5], fin=False))
        writer.write(frame(0x0, text[5:9], fin=False))
        writer.write(frame(0x9, b"are you there"))
        writer.write(frame(0x0, text[9:]))
        await writer.drain()
        # The pong frame comes first; RawSocketIO.receive skips pongs, so read it by hand.
        first, size = await raw._reader.readexactly(2)
        assert (first, await raw._reader.readexactly(size)) == (0x8A, b"are you there")
        ack = await raw.receive()
        assert ack.startswith("431["), ack
        assert json.loads(ack[3:])[0]["room"] == "orders"
    finally:
        await raw.close()
    await eventually(lambda: not lean_connections(live_server), 10, "the connection's end")
    assert engineio_sockets(live_server) == {}
    assert live_server.server is not None
    sio = live_server.server.config.app.realtime.server
    assert sio.environ == {}  # python-socketio's per-connection state is gone too
    assert sio.manager.rooms.get("/", {}) == {}


BAD_FRAMES = {
    "unmasked": (frame(0x1, b"42[]", masked=False), 1002),
    "reserved bits": (bytes([0xC1]) + frame(0x1, b"4")[1:], 1002),
    "unknown opcode": (frame(0x3, b"x"), 1002),
    "continuation first": (frame(0x0, b"x"), 1002),
    "fragmented ping": (frame(0x9, b"x", fin=False), 1002),
    "invalid UTF-8": (frame(0x1, b"4\xff\xfe"), 1007),
    "too big": (bytes([0x81, 0xFF]) + (10**9).to_bytes(8, "big"), 1009),
}


@pytest.mark.parametrize("bad", BAD_FRAMES)
async def test_a_bad_frame_closes_the_connection_with_its_code(
    live_server: LiveServer, caplog: pytest.LogCaptureFixture, bad: str
) -> None:
    caplog.set_level(logging.INFO, logger=NAMESPACE_LOG)
    data, code = BAD_FRAMES[bad]
    raw = await RawSocketIO.connect(live_server.host, live_server.port)
    try:
        raw._writer.write(data)
        await raw._writer.drain()
        with pytest.raises(Closed) as closed:
            async with asyncio.timeout(10):
                while True:
                    await raw.receive()
        assert close_code(closed.value) == code.to_bytes(2, "big").hex(), closed.value
    finally:
        await raw.close()
    await eventually(lambda: disconnect_reason(caplog, raw.sid) is not None, 10, "disconnect")
    assert disconnect_reason(caplog, raw.sid) == "transport close"
    async with httpx.AsyncClient(base_url=live_server.base_url) as http:
        assert ok(await http.get("/health"))["status"] == "ok"
    again = await RawSocketIO.connect(live_server.host, live_server.port)
    await again.close()


async def test_screens_that_connect_together_are_not_pinged_together(database_url: str) -> None:
    """After a restart every screen reconnects within a second or two; pinged a whole
    interval after connecting, they would all be pinged (and answer) in that same second or
    two, every interval, for as long as they stay. The first ping comes 0.5-1 interval
    after connecting, drawn per connection, so their pings spread out (and stay so: the
    next ones come an interval after each pong)."""
    interval = 2.0
    settings = server_settings(database_url, ping_interval=interval, ping_timeout=5.0)
    with LiveServer(settings) as server:
        screens = await asyncio.gather(
            *(RawSocketIO.connect(server.host, server.port) for _ in range(16))
        )
        connected = time.monotonic()
        try:

            async def first_ping(screen: RawSocketIO) -> float:
                assert await screen.receive(answer_pings=False) == "2"
                return time.monotonic() - connected

            after = await asyncio.wait_for(asyncio.gather(*map(first_ping, screens)), 15)
        finally:
            await asyncio.gather(*(screen.close() for screen in screens))
    assert all(0.4 * interval < a < interval + 1.5 for a in after), after
    # Drawn uniformly over half an interval, 16 first pings all fall within 0.15 interval
    # of each other with a probability of ~2e-7 (16 x 0.3^15); unjittered, within 10 ms.
    assert max(after) - min(after) > 0.15 * interval, after


async def test_pings_keep_answering_clients_and_close_silent_ones(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=NAMESPACE_LOG)
    settings = server_settings(database_url, ping_interval=0.2, ping_timeout=0.4)
    with LiveServer(settings) as server:
        answering = await RawSocketIO.connect(server.host, server.port)
        silent = await RawSocketIO.connect(server.host, server.port)
        received: list[str] = []

        async def read() -> None:  # RawSocketIO.receive answers pings on the way
            with contextlib.suppress(Closed):
                while True:
                    received.append(await answering.receive())

        reader = asyncio.create_task(read())
        try:
            await eventually(lambda: disconnect_reason(caplog, silent.sid) is not None, 10)
            assert disconnect_reason(caplog, silent.sid) == "ping timeout"
            with pytest.raises(Closed):  # its stream ends: a CLOSE packet, then the close
                async with asyncio.timeout(10):
                    while (text := await silent.receive()) != "1":
                        assert text == "2", text  # only pings were sent to it
                    await silent.receive()
            # Several ping rounds later the answering client is still served.
            await asyncio.sleep(1.0)
            await answering.send('427["join:orders",{}]')
            await eventually(lambda: any(t.startswith("437[") for t in received), 10, "ack")
            assert disconnect_reason(caplog, answering.sid) is None
        finally:
            reader.cancel()
            await answering.close()
            await silent.close()


async def test_a_dropped_slow_subscriber_that_still_does_not_read_is_cut_off(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """``ping_timeout`` is also how long a dropped socket's backlog may stall: past it, the
    server ends the TCP connection instead of holding it and its buffers."""
    caplog.set_level(logging.INFO, logger=NAMESPACE_LOG)
    settings = server_settings(database_url, send_queue_limit=20, ping_timeout=1.0)
    with LiveServer(settings) as server:
        async with (
            httpx.AsyncClient(base_url=server.base_url, timeout=30) as http,
            Socket(server.base_url) as steady,
        ):
            await steady.join("join:kitchen")
            slow = await stalled_screen(server)
            try:
                for _ in range(500):
                    if dropped_for_being_slow(caplog, slow.sid):
                        break
                    await place(http, big_order())
                assert dropped_for_being_slow(caplog, slow.sid)
                await eventually(lambda: len(lean_connections(server)) == 1, 15, "the cut-off")
                assert steady.sio.connected and steady.disconnects == []
                await read_to_the_end(slow)
            finally:
                await slow.close()


async def test_shutdown_closes_lean_connections_with_1012(database_url: str) -> None:
    server = LiveServer(server_settings(database_url)).start()
    try:
        raw = await RawSocketIO.connect(server.host, server.port)
        stopping = asyncio.create_task(asyncio.to_thread(server.stop))
        with pytest.raises(Closed) as closed:
            async with asyncio.timeout(20):
                while True:
                    await raw.receive()
        assert close_code(closed.value) == (1012).to_bytes(2, "big").hex(), closed.value
        await raw.close()
        await stopping
    finally:
        if server.running:
            server.stop()


async def test_polling_and_its_upgrade_keep_engineio(live_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live_server.base_url, timeout=30) as http:
        sock = await Socket(live_server.base_url).connect(transports=["polling", "websocket"])
        try:
            await eventually(lambda: sock.sio.transport() == "websocket", 10, "the upgrade")
            classes = {type(s).__name__ for s in engineio_sockets(live_server).values()}
            assert classes == {"AsyncSocket"}
            assert lean_connections(live_server) == set()
            await sock.join("join:orders")
            order = await place(http)
            await eventually(
                lambda: any(p["order_id"] == order["id"] for _, p in sock.named("orders")), 10
            )
        finally:
            await sock.close()


async def test_lean_connections_behind_h11_on_the_asyncio_loop(database_url: str) -> None:
    """uvicorn's other HTTP protocol and the standard event loop hand upgrades over the same
    way (the lean protocol gets asyncio's own transport there)."""
    with LiveServer(server_settings(database_url), http="h11", loop="asyncio") as server:
        raw = await RawSocketIO.connect(server.host, server.port)
        try:
            assert (await raw.call("join:orders", {}))["ok"] is True
            async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
                order = await place(http)
            async with asyncio.timeout(10):
                while True:
                    kind, data = RawSocketIO.decode(await raw.receive())
                    if kind == "event" and data[1]["order_id"] == order["id"]:
                        break
            assert len(lean_connections(server)) == 1
        finally:
            await raw.close()
