"""``rooms.route_texts``: every room's Engine.IO text, the payload the rooms share encoded
once, is byte for byte what encoding each of ``rooms.route``'s messages gives."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import socketio

from domain.ports import RecordedEvent
from infrastructure.broadcast import ProjectedEvent
from interfaces.realtime.rooms import route, route_texts

AT = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _view(items: list[dict[str, Any]], status: str = "open") -> dict[str, Any]:
    return {
        "id": "o-1",
        "number": 12,
        "status": status,
        "notes": "allergie: noix — « sans »",
        "items": items,
        "version": 2,
        "position": 8,
    }


def _item(item_id: str, station: str | None, status: str = "sent") -> dict[str, Any]:
    return {"id": item_id, "name": f"Plat {item_id} ☕", "station": station, "status": status}


def _projected(
    event_type: str,
    data: dict[str, Any],
    order: dict[str, Any] | None,
    *,
    in_kitchen: bool,
    was_in_kitchen: bool,
    stations: frozenset[str],
) -> ProjectedEvent:
    event = RecordedEvent(
        8, "o-1", 2, "e-8", event_type, 1, data, {"occurred_at": AT.isoformat()}, AT
    )
    previous = None if event_type == "OrderPlaced" else "open"
    status = None if order is None else order["status"]
    return ProjectedEvent(
        event, order, previous, status, True, in_kitchen, was_in_kitchen, stations
    )


ITEMS = [_item("a", "grill"), _item("b", 'bar "north"'), _item("c", None, "held")]
GRILL, BAR = frozenset({"grill"}), frozenset({'bar "north"'})
CASES = {  # event type, data, order view, on the board after / before, stations
    "placed, not fired": (
        "OrderPlaced", {"items": [{"item_id": "a"}]}, _view([_item("a", "grill", "pending")]),
        False, False, GRILL,
    ),
    "fired onto the board, two stations": (
        "ItemsFired", {"item_ids": ["a", "b"]}, _view(ITEMS), True, False, GRILL | BAR,
    ),
    "fired again, one station already on the board": (
        "ItemsFired", {"item_ids": ["b"]}, _view(ITEMS), True, True, BAR,
    ),
    "bumped": ("ItemBumped", {"item_id": "a"}, _view(ITEMS), True, True, GRILL),
    "discarded": ("OrderDiscarded", {"reason": "test"}, None, False, True, GRILL),
}  # fmt: skip


def _case(name: str) -> ProjectedEvent:
    event_type, data, order, in_kitchen, was_in_kitchen, stations = CASES[name]
    return _projected(
        event_type,
        data,
        order,
        in_kitchen=in_kitchen,
        was_in_kitchen=was_in_kitchen,
        stations=stations,
    )


@pytest.mark.parametrize("name", list(CASES))
def test_each_rooms_text_is_its_routed_message_encoded(name: str) -> None:
    projected = _case(name)
    messages = route(projected)
    texts = route_texts(projected)

    assert list(texts) == [m.room for m in messages]
    assert texts == {m.room: b"42" + orjson.dumps([m.event, m.payload]) for m in messages}
    for message in messages:  # and python-socketio reads it as that message
        packet = socketio.packet.Packet(encoded_packet=texts[message.room][1:].decode())
        assert packet.data == [message.event, message.payload]


def test_station_rooms_get_their_own_items_and_the_others_share_the_view() -> None:
    texts = route_texts(_case("fired onto the board, two stations"))

    decoded = {room: json.loads(text[2:]) for room, text in texts.items()}
    assert sorted(decoded) == [
        "kitchen",
        'kitchen:bar "north"',
        "kitchen:grill",
        "order:o-1",
        "orders",
    ]
    assert decoded["kitchen"][0] == "order:created"  # a new ticket on the board
    assert [i["id"] for i in decoded["kitchen:grill"][1]["order"]["items"]] == ["a"]
    assert [i["id"] for i in decoded['kitchen:bar "north"'][1]["order"]["items"]] == ["b"]
    for room in ("orders", "order:o-1", "kitchen"):
        assert decoded[room][1]["room"] == room
        assert decoded[room][1]["order"]["items"] == ITEMS


def test_an_event_type_no_room_listens_for_has_no_texts() -> None:
    projected = _projected(
        "SomethingNew", {}, _view([]), in_kitchen=False, was_in_kitchen=False, stations=frozenset()
    )
    assert route(projected) == []
    assert route_texts(projected) == {}
