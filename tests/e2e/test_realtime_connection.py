"""Socket.IO connections to a real server: lifespan, CORS, reconnects, bad requests."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
import socketio

from tests.e2e.orders import place
from tests.e2e.realtime_support import Socket, eventually
from tests.e2e.server import LiveServer, server_settings

pytestmark = pytest.mark.anyio

ALLOWED = "http://localhost:5173"
DENIED = "http://evil.example"


async def test_lifespan_runs_through_the_socketio_wrapper(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="interfaces.realtime")
    server = LiveServer(server_settings(database_url)).start()
    try:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            ready = await http.get("/health/ready")
            assert ready.status_code == 200, "services are opened by FastAPI's lifespan"
            placed = await place(http)  # placed and fired: positions 1 and 2
        async with Socket(server.base_url) as sock:
            ack = await sock.join("join:orders")
            assert ack["position"] == placed["position"] == 2, (
                "joins are served: the lifespan attached Socket.IO"
            )
    finally:
        server.stop()
    messages = [r.getMessage() for r in caplog.records if r.name == "interfaces.realtime.server"]
    assert any(m.startswith("Socket.IO started") for m in messages), messages
    assert any(m.startswith("Socket.IO stopped") for m in messages), messages


async def test_connect_disconnect_reconnect(live_server: LiveServer) -> None:
    sock = Socket(live_server.base_url)
    await sock.connect()
    first_sid = sock.sio.get_sid()
    assert (await sock.join("join:orders"))["room"] == "orders"
    await sock.sio.disconnect()
    assert not sock.sio.connected
    await sock.connect()
    assert sock.sio.get_sid() != first_sid
    assert (await sock.join("join:orders"))["room"] == "orders"
    await sock.close()


async def test_polling_transport_and_ping_settings(database_url: str) -> None:
    # Small ping values: a long-polling client's last GET is only released by the ping cycle.
    settings = server_settings(database_url, ping_interval=1.0, ping_timeout=1.0)
    with LiveServer(settings) as server:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            probe = await http.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
        assert probe.status_code == 200 and probe.text.startswith("0{")
        handshake = json.loads(probe.text[1:])
        assert (handshake["pingInterval"], handshake["pingTimeout"]) == (1000, 1000)
        sock = await Socket(server.base_url).connect(transports=["polling"])
        assert (await sock.join("join:kitchen"))["room"] == "kitchen"
        await sock.close()


async def test_cors_allow_list_applies_to_the_handshake(live_server: LiveServer) -> None:
    allowed = await Socket(live_server.base_url, {"Origin": ALLOWED}).connect()
    assert (await allowed.join("join:orders"))["ok"] is True
    await allowed.close()

    for transports in (["websocket"], ["polling"]):
        denied = Socket(live_server.base_url, {"Origin": DENIED})
        with pytest.raises(socketio.exceptions.ConnectionError):
            await denied.connect(transports=transports)
        await denied.close()


async def test_cors_preflight_for_rest_and_socketio(client: httpx.AsyncClient) -> None:
    for path in ("/api/orders", "/socket.io/?EIO=4&transport=polling"):
        headers = {"Access-Control-Request-Method": "POST"}
        good = await client.options(path, headers={"Origin": ALLOWED, **headers})
        assert good.status_code == 200, (path, good.text)
        assert good.headers["access-control-allow-origin"] == ALLOWED
        bad = await client.options(path, headers={"Origin": DENIED, **headers})
        assert bad.status_code == 400, (path, bad.text)
        assert "access-control-allow-origin" not in bad.headers


BAD_REQUESTS = [
    ("join:orders", {"since": "5"}, "invalid_payload"),
    ("join:orders", {"since": -1}, "invalid_payload"),
    ("join:orders", {"since": True}, "invalid_payload"),
    ("join:orders", {"since": 10**30}, "invalid_payload"),
    ("join:orders", {"since": 1_000_000}, "since_ahead"),
    ("join:orders", {"unknown": 1}, "invalid_payload"),
    ("join:orders", [1, 2], "invalid_payload"),
    ("join:orders", "orders", "invalid_payload"),
    ("join:kitchen", {"station": ""}, "invalid_payload"),
    ("join:kitchen", {"station": "grill room"}, "invalid_payload"),
    ("join:kitchen", {"station": 7}, "invalid_payload"),
    ("join:order", {}, "invalid_payload"),
    ("join:order", {"order_id": None}, "invalid_payload"),
    ("leave:order", {"order_id": 1}, "invalid_payload"),
    ("leave:orders", {"since": 0}, "invalid_payload"),
    ("join:orders", {"since": 0, "pad": "x" * 10_000}, "payload_too_large"),
    ("join:everything", {}, "unknown_event"),
]


async def test_bad_requests_get_error_acks_and_the_connection_stays(
    live_server: LiveServer,
) -> None:
    async with Socket(live_server.base_url) as sock:
        for event, payload, code in BAD_REQUESTS:
            ack = await sock.call(event, payload)
            assert ack["ok"] is False, (event, payload, ack)
            assert ack["error"]["code"] == code, (event, payload, ack)
            assert ack["error"]["message"]
        two_args = await sock.call("join:orders", {"since": 0}, {"extra": 1})
        assert two_args["error"]["code"] == "invalid_payload"
        await sock.sio.emit("join:everything", {"no": "ack"})  # no ack asked: only logged
        await sock.sio.emit("join:orders", {"since": -5})
        assert sock.sio.connected
        ack = await sock.join("join:orders")
        assert ack["snapshot"] == []


async def test_joins_without_payload_or_with_null(live_server: LiveServer) -> None:
    async with Socket(live_server.base_url) as sock:
        assert (await sock.call("join:kitchen"))["room"] == "kitchen"
        assert (await sock.call("join:orders", None))["room"] == "orders"
        assert (await sock.call("leave:kitchen"))["room"] == "kitchen"
        assert (await sock.call("leave:orders"))["ok"] is True


async def test_the_bench_subscriber_gets_order_created(
    live_server: LiveServer, client: httpx.AsyncClient
) -> None:
    """The load harness emits ``join:kitchen`` with no payload and no ack callback."""
    async with Socket(live_server.base_url) as sock:
        await sock.sio.emit("join:kitchen")
        placed: list[str] = []

        async def delivered() -> bool:
            created = {p["order"]["id"] for p in sock.events("kitchen", "order:created")}
            if created & set(placed):
                return True
            placed.append((await place(client))["id"])  # a probe, as the harness does
            return False

        await eventually(delivered, what="order:created in the kitchen room")


async def test_a_connection_keeps_no_body_reader_of_its_handshake(live_server: LiveServer) -> None:
    """python-socketio keeps each connection's handshake environ; python-engineio's body
    reader in it is an instance of a class made per request, dropped once connected."""
    assert live_server.server is not None
    sio = live_server.server.config.app.realtime.server
    async with Socket(live_server.base_url) as sock:
        await sock.join("join:orders")
        environs = list(sio.environ.values())
        assert environs, "the connection's environ is kept"
        assert all("wsgi.input" not in environ for environ in environs)
        assert all(environ["asgi.scope"]["type"] == "websocket" for environ in environs)
