"""``JsonPacket``: the same packets as python-socketio's own, encoded by orjson."""

from __future__ import annotations

import json
from typing import Any

import pytest
from socketio import packet as sio_packet

from interfaces.realtime.packets import JsonPacket

SNAPSHOT: Any = {
    "ok": True,
    "room": "orders",
    "position": 12,
    "snapshot": [
        {"id": "o-1", "items": [{"name": "Crème brûlée", "quantity": 2, "notes": None}]},
        {"id": "o-2", "items": [], "total": 1150, "ratio": 0.5, "flags": [True, False]},
    ],
}


def split(text: str) -> tuple[str, Any]:
    """The packet's head (type, namespace, id) and its decoded JSON payload."""
    start = min(i for i in (text.find("["), text.find("{")) if i >= 0)
    return text[:start], json.loads(text[start:])


@pytest.mark.parametrize(
    ("packet_type", "data", "namespace", "ack_id"),
    [
        (sio_packet.ACK, [SNAPSHOT], None, 7),
        (sio_packet.ACK, [SNAPSHOT], "/", 0),
        (sio_packet.EVENT, ["order:created", SNAPSHOT], "/admin", None),
        (sio_packet.EVENT, ["room:position", {"room": "kitchen", "position": 3}], None, 12),
        (sio_packet.CONNECT, {"sid": "abc"}, None, None),
    ],
)
def test_the_same_packet_as_python_socketio(
    packet_type: int, data: Any, namespace: str | None, ack_id: int | None
) -> None:
    ours = JsonPacket(packet_type, data=data, namespace=namespace, id=ack_id).encode()
    stock = sio_packet.Packet(packet_type, data=data, namespace=namespace, id=ack_id).encode()
    assert isinstance(ours, str)
    assert split(ours) == split(stock)


def test_non_ascii_stays_utf8() -> None:
    """The one difference from the stock text, as in the broadcaster's events."""
    assert "Crème brûlée" in JsonPacket(sio_packet.ACK, data=[SNAPSHOT], id=1).encode()


def test_packets_without_data_are_python_socketios() -> None:
    for packet_type in (sio_packet.CONNECT, sio_packet.DISCONNECT):
        assert JsonPacket(packet_type).encode() == sio_packet.Packet(packet_type).encode()


def test_binary_payloads_keep_python_socketios_attachments() -> None:
    data = [{"image": b"\x00\x01", "name": "x"}]
    ours = JsonPacket(sio_packet.ACK, data=data, id=3)
    assert ours.packet_type == sio_packet.BINARY_ACK
    assert ours.encode() == sio_packet.Packet(sio_packet.ACK, data=data, id=3).encode()


def test_what_orjson_refuses_takes_the_stock_encoding() -> None:
    data = [{1: "integer key"}, 2**70]  # orjson: str keys only, integers up to 64 bits
    ours = JsonPacket(sio_packet.EVENT, data=data)
    assert ours.encode() == sio_packet.Packet(sio_packet.EVENT, data=data).encode()


def test_incoming_packets_decode_as_before() -> None:
    text = '2/admin,5["join:kitchen",{"station":"grill"}]'
    ours, stock = JsonPacket(encoded_packet=text), sio_packet.Packet(encoded_packet=text)
    assert (ours.packet_type, ours.namespace, ours.id, ours.data) == (
        stock.packet_type,
        stock.namespace,
        stock.id,
        stock.data,
    )
