"""The event codec: JSON shape, round trips for every event type, upcasting."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from domain.codec import (
    CURRENT_VERSIONS,
    CodecError,
    UnknownEventType,
    UnsupportedSchemaVersion,
    Upcasters,
    decode,
    decode_recorded,
    default_upcasters,
    encode,
    to_new_event,
)
from domain.events import (
    EVENT_TYPES,
    Event,
    ItemBumped,
    ItemChanged,
    ItemRecalled,
    ItemRemoved,
    ItemsAdded,
    ItemsFired,
    ItemsHeld,
    ItemsReleased,
    ItemVoided,
    OrderDetailsChanged,
    OrderDiscarded,
    OrderPlaced,
    OrderStatusChanged,
)
from domain.model import OrderStatus, OrderType
from domain.ports import JSON, RecordedEvent
from tests.unit.builders import DAY, OID, spec

_AT = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)

ONE_OF_EACH: list[Event] = [
    OrderPlaced(OID, DAY, OrderType.DINE_IN, (spec("a"), spec("b")), 7, 2, "window"),
    OrderDetailsChanged(OID, ("order_type", "notes"), OrderType.TAKEOUT),
    OrderDiscarded(OID),
    ItemsAdded(OID, (spec("c"),)),
    ItemChanged(OID, "c", ("quantity", "modifiers"), 2, ("extra cheese",)),
    ItemChanged(OID, "c", ("modifiers",), modifiers=None),
    ItemRemoved(OID, "c"),
    ItemsFired(OID, ("a", "b")),
    ItemsHeld(OID, ("a",)),
    ItemsReleased(OID, ("a",)),
    ItemBumped(OID, "a"),
    ItemRecalled(OID, "a"),
    ItemVoided(OID, "a", "burnt"),
    OrderStatusChanged(OID, OrderStatus.SENT, OrderStatus.CANCELLED, "guest left"),
]


def test_every_event_type_is_covered() -> None:
    assert {type(e) for e in ONE_OF_EACH} == set(EVENT_TYPES.values())
    assert set(CURRENT_VERSIONS) == set(EVENT_TYPES)


@pytest.mark.parametrize("event", ONE_OF_EACH, ids=lambda e: type(e).__name__)
def test_round_trip_through_json(event: Event) -> None:
    type_name, version, data = encode(event)
    assert EVENT_TYPES[type_name] is type(event)
    assert version == CURRENT_VERSIONS[type_name]
    stored = json.loads(json.dumps(data))
    assert stored == data
    assert decode(type_name, stored) == event
    assert decode(type_name, stored, version) == event


def test_the_json_shape_uses_plain_values() -> None:
    _, _, data = encode(ONE_OF_EACH[0])
    assert data == {
        "order_id": OID,
        "business_day": DAY,
        "order_type": "dine_in",
        "items": [
            {
                "item_id": i,
                "menu_item_id": f"menu-{i}",
                "name": f"Dish {i}",
                "quantity": 1,
                "unit_price": 500,
                "modifiers": ["no onion"],
                "notes": None,
                "station": "grill",
            }
            for i in ("a", "b")
        ],
        "table_number": 7,
        "guest_count": 2,
        "notes": "window",
    }
    assert type(data["order_type"]) is str
    _, _, status = encode(ONE_OF_EACH[-1])
    assert type(status["to_status"]) is str


def test_missing_optional_fields_take_their_defaults() -> None:
    decoded = decode(
        "OrderStatusChanged", {"order_id": OID, "from_status": "sent", "to_status": "ready"}
    )
    assert decoded == OrderStatusChanged(OID, OrderStatus.SENT, OrderStatus.READY)


@pytest.mark.parametrize(
    "data",
    [{"order_id": OID}, {"order_id": OID, "from_status": "sent", "to_status": "lost"}],
)
def test_bad_data_raises_a_codec_error(data: JSON) -> None:
    with pytest.raises(CodecError, match="OrderStatusChanged"):
        decode("OrderStatusChanged", data)


def test_an_unknown_type_is_named() -> None:
    with pytest.raises(UnknownEventType, match="'OrderExploded'"):
        decode("OrderExploded", {})


def test_to_new_event_carries_type_version_and_metadata() -> None:
    new = to_new_event(ItemBumped(OID, "a"), "e-1", {"actor": "cook"})
    assert (new.event_id, new.type, new.schema_version) == ("e-1", "ItemBumped", 1)
    assert (new.data, new.metadata) == ({"order_id": OID, "item_id": "a"}, {"actor": "cook"})


# --- upcasting ----------------------------------------------------------------------


def voided_upcasters() -> Upcasters:
    """ItemVoided as if v1 had no reason and v2 called it ``why``."""
    upcasters = Upcasters()

    @upcasters.register("ItemVoided", from_version=1)
    def _v1_v2(data: JSON) -> JSON:
        return {**data, "why": "unknown"}

    @upcasters.register("ItemVoided", from_version=2)
    def _v2_v3(data: JSON) -> JSON:
        rest = {k: v for k, v in data.items() if k != "why"}
        return {**rest, "reason": data["why"]}

    return upcasters


def test_upcasters_apply_each_step_in_turn() -> None:
    v1 = {"order_id": OID, "item_id": "a"}
    assert voided_upcasters()("ItemVoided", 1, v1) == (3, {**v1, "reason": "unknown"})
    assert voided_upcasters()("ItemVoided", 3, v1) == (3, v1)
    assert voided_upcasters()("ItemBumped", 1, v1) == (1, v1)


def test_decode_upcasts_old_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(CURRENT_VERSIONS, "ItemVoided", 3)
    v1 = {"order_id": OID, "item_id": "a"}
    expected = ItemVoided(OID, "a", "unknown")
    assert decode("ItemVoided", v1, 1, voided_upcasters()) == expected
    recorded = RecordedEvent(1, OID, 1, "e", "ItemVoided", 1, v1, {}, _AT)
    assert decode_recorded(recorded, voided_upcasters()) == expected
    assert encode(expected)[1] == 3


def test_a_version_no_upcaster_reaches_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(CURRENT_VERSIONS, "ItemVoided", 2)
    with pytest.raises(UnsupportedSchemaVersion, match="no upcaster"):
        decode("ItemVoided", {"order_id": OID, "item_id": "a"}, 1, default_upcasters())
    with pytest.raises(UnsupportedSchemaVersion, match="newer code"):
        decode("ItemVoided", {"order_id": OID, "item_id": "a", "reason": "x"}, 3)


def test_registering_a_step_twice_is_refused() -> None:
    upcasters = voided_upcasters()
    with pytest.raises(ValueError, match="ItemVoided v1"):
        upcasters.register("ItemVoided", 1)(lambda data: data)
