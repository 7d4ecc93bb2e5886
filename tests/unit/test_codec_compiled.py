"""The compiled decoders give what the generic field loop gives: the same events (types,
enums, tuples, nested ``ItemSpec``), the same upcasting, and the same errors."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import codec
from domain.codec import (
    CURRENT_VERSIONS,
    UnknownEventType,
    UnsupportedSchemaVersion,
    decode,
    decoder,
    default_upcasters,
    encode,
)
from domain.events import (
    EVENT_TYPES,
    Event,
    ItemChanged,
    ItemsAdded,
    ItemSpec,
    ItemVoided,
    OrderDetailsChanged,
    OrderPlaced,
    OrderStatusChanged,
)
from domain.model import OrderStatus, OrderType
from domain.ports import JSON
from tests.unit.builders import DAY, OID, spec
from tests.unit.test_codec import ONE_OF_EACH, voided_upcasters

EXAMPLES: list[Event] = [
    *ONE_OF_EACH,
    OrderPlaced(OID, DAY, OrderType.TAKEOUT, ()),
    OrderPlaced(OID, DAY, OrderType.DELIVERY, (ItemSpec("x", "m", "Soup", 2, 0),), None, 3),
    ItemsAdded(OID, (spec("c"), ItemSpec("d", "m", "Tea", 1, 250, (), "hot", None))),
    OrderDetailsChanged(OID, ("table_number", "guest_count"), None, None, None),
    ItemChanged(OID, "c", ("notes",), notes="no salt"),
    OrderStatusChanged(OID, OrderStatus.READY, OrderStatus.SERVED),
]

JSON_VALUES: list[Any] = [
    None,
    0,
    7,
    -1,
    2.5,
    True,
    "",
    "x",
    "dine_in",
    "sent",
    [],
    ["x"],
    [None],
    [5],
    [[]],
    [{}],
    {},
    {"item_id": "a"},
]
"""Values a malformed (or hand-edited) stored event could hold in any field."""


def generic(type_name: str) -> Callable[[Any], Any]:
    return codec._CODECS[type_name].decode


def outcome(decode_with: Callable[[Any], Any], data: Any) -> tuple[str, Any]:
    """What decoding ``data`` gives: the event with the type of every value in it, or the
    error's class and message."""
    try:
        result = decode_with(data)
    except Exception as error:
        return ("error", (type(error), str(error)))
    return ("event", (result, _shape(result)))


def _shape(value: Any) -> Any:
    """The types all the way down (equal events whose values differ in type are told apart:
    a list for a tuple, a str for an enum member)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        return (type(value), tuple(_shape(getattr(value, f.name)) for f in fields))
    if isinstance(value, tuple | list):
        return (type(value), tuple(_shape(v) for v in value))
    return (type(value), value)


def assert_same(type_name: str, data: Any) -> None:
    before = copy.deepcopy(data)
    expected = outcome(generic(type_name), data)
    assert outcome(codec._CODECS[type_name].fast_decode, data) == expected
    assert outcome(decoder(type_name), data) == expected
    assert outcome(decoder(type_name, CURRENT_VERSIONS[type_name]), data) == expected
    if isinstance(data, dict):
        assert outcome(lambda d: decode(type_name, d), data) == expected
    assert data == before  # neither changes what it reads


def stored(event: Event) -> tuple[str, JSON]:
    type_name, _, data = encode(event)
    return type_name, json.loads(json.dumps(data))


def test_every_event_type_is_an_example() -> None:
    assert {type(e) for e in EXAMPLES} == set(EVENT_TYPES.values())


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: type(e).__name__)
def test_the_compiled_decoder_gives_the_generic_event(event: Event) -> None:
    type_name, data = stored(event)
    decoded = decoder(type_name)(data)
    assert decoded == event
    assert _shape(decoded) == _shape(event) == _shape(generic(type_name)(data))
    assert type(decoded) is type(event)
    assert hash(decoded) == hash(event)
    with pytest.raises(dataclasses.FrozenInstanceError):
        decoded.order_id = "other"  # type: ignore[misc]
    assert_same(type_name, data)


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: type(e).__name__)
def test_missing_fields_are_refused_or_defaulted_alike(event: Event) -> None:
    type_name, data = stored(event)
    for name in data:
        assert_same(type_name, {k: v for k, v in data.items() if k != name})
    assert_same(type_name, {})
    assert_same(type_name, {**data, "unknown": 1})


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: type(e).__name__)
def test_any_value_in_any_field_decodes_or_fails_alike(event: Event) -> None:
    type_name, data = stored(event)
    for name in data:
        for value in JSON_VALUES:
            assert_same(type_name, {**data, name: value})


@pytest.mark.parametrize("type_name", ["OrderPlaced", "ItemsAdded"])
def test_malformed_nested_items_fail_alike(type_name: str) -> None:
    _, data = stored(EXAMPLES[0] if type_name == "OrderPlaced" else ONE_OF_EACH[3])
    item = data["items"][0]
    for name in item:
        assert_same(type_name, {**data, "items": [{k: v for k, v in item.items() if k != name}]})
        for value in JSON_VALUES:
            assert_same(type_name, {**data, "items": [item, {**item, name: value}]})


@pytest.mark.parametrize("type_name", sorted(EVENT_TYPES))
def test_data_that_is_not_a_dict_fails_alike(type_name: str) -> None:
    for data in (None, [], "x", 5, [("order_id", OID)]):
        assert_same(type_name, data)


def test_sequences_other_than_lists_decode_as_the_generic_loop_decodes_them() -> None:
    type_name, data = stored(ONE_OF_EACH[0])
    assert_same(type_name, {**data, "items": tuple(data["items"])})
    assert_same("ItemsFired", {"order_id": OID, "item_ids": "ab"})
    assert_same("ItemsFired", {"order_id": OID, "item_ids": ("a", "b")})
    assert_same("ItemsFired", {"order_id": OID, "item_ids": {"a": 1}})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.sampled_from(["sent"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(EXAMPLES), st.data())
def test_random_changes_to_stored_events_decode_or_fail_alike(
    event: Event, draw: st.DataObject
) -> None:
    type_name, data = stored(event)
    names = sorted(data)
    for _ in range(draw.draw(st.integers(1, 3))):
        data[draw.draw(st.sampled_from(names))] = draw.draw(json_values)
    assert_same(type_name, data)


# --- versions -----------------------------------------------------------------------------


def test_a_decoder_for_an_old_version_upcasts_as_decode_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(CURRENT_VERSIONS, "ItemVoided", 3)
    upcasters = voided_upcasters()
    v1 = {"order_id": OID, "item_id": "a"}
    v2 = {**v1, "why": "cold"}
    v3 = {**v1, "reason": "burnt"}
    for version, data in ((1, v1), (2, v2), (3, v3), (None, v3)):
        got = decoder("ItemVoided", version, upcasters)(data)
        assert got == decode("ItemVoided", data, version, upcasters)
        assert type(got) is ItemVoided
    assert decoder("ItemVoided", 1, upcasters)(v1) == ItemVoided(OID, "a", "unknown")
    # upcast data that does not decode fails as decode fails
    broken = {"item_id": "a"}
    with pytest.raises(codec.CodecError) as expected:
        decode("ItemVoided", broken, 1, upcasters)
    with pytest.raises(codec.CodecError) as got_error:
        decoder("ItemVoided", 1, upcasters)(broken)
    assert str(got_error.value) == str(expected.value)


def test_a_decoder_refuses_what_decode_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UnknownEventType, match="'OrderExploded'"):
        decoder("OrderExploded")
    with pytest.raises(UnknownEventType, match="'OrderExploded'"):
        decoder("OrderExploded", 7)
    monkeypatch.setitem(CURRENT_VERSIONS, "ItemVoided", 2)
    data = {"order_id": OID, "item_id": "a", "reason": "x"}
    with pytest.raises(UnsupportedSchemaVersion, match="newer code") as newer:
        decoder("ItemVoided", 3)
    with pytest.raises(UnsupportedSchemaVersion) as by_decode:
        decode("ItemVoided", data, 3)
    assert str(newer.value) == str(by_decode.value)
    unreachable = decoder("ItemVoided", 1, default_upcasters())  # fails per call, as decode
    with pytest.raises(UnsupportedSchemaVersion, match="no upcaster"):
        unreachable(data)
    with pytest.raises(UnsupportedSchemaVersion, match="no upcaster"):
        decoder("ItemVoided", 1)(data)


def test_a_class_the_draft_does_not_fit_is_built_by_its_init() -> None:
    @dataclasses.dataclass(frozen=True)
    class WithDict:  # no slots: an instance has a __dict__
        name: str
        status: OrderStatus | None = None

    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        name: str

        def __post_init__(self) -> None:
            if not self.name:
                raise ValueError("empty name")

    for cls, good, bad in (
        (WithDict, {"name": "a", "status": "sent"}, {"name": "a", "status": "lost"}),
        (Checked, {"name": "a"}, {"name": ""}),
    ):
        compiled = codec._ClassCodec(cls)
        assert codec._draft(cls) is None
        for data in (good, bad, {}, None):
            assert outcome(compiled.fast_decode, data) == outcome(compiled.decode, data)
        assert compiled.fast_decode(good) == compiled.decode(good)


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: type(e).__name__)
def test_the_compiled_encoder_gives_the_generic_loops_dict(event: Event) -> None:
    name = codec.EVENT_NAMES[type(event)]
    compiled = codec._CODECS[name].fast_encode(event)
    assert compiled == codec._CODECS[name].encode(event)
    assert list(compiled) == [f.name for f in dataclasses.fields(event)]
    assert encode(event) == (name, CURRENT_VERSIONS[name], compiled)
    assert decode(name, json.loads(json.dumps(compiled))) == event
