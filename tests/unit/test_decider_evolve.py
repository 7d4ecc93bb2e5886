"""``evolve``'s compiled copies (one function per event class) give the states the plain
dataclass path gives: ``Order``/``Item`` built by their ``__init__`` and changed with
``dataclasses.replace`` by the changes ``_changes`` lists."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings

from domain import decider
from domain.decider import decide, evolve
from domain.errors import DomainError
from domain.events import (
    Event,
    ItemBumped,
    ItemChanged,
    ItemsAdded,
    ItemsFired,
    ItemSpec,
    ItemVoided,
    OrderDetailsChanged,
    OrderDiscarded,
    OrderPlaced,
    OrderStatusChanged,
)
from domain.model import Item, ItemStatus, Order, OrderStatus, OrderType
from tests.unit.builders import DAY, OID, spec
from tests.unit.test_codec_compiled import EXAMPLES, _shape
from tests.unit.test_decider_properties import Choice, choices, command_for


def reference_evolve(state: Order | None, event: Event) -> Order:
    """``evolve`` written with the dataclasses' own ``__init__`` and ``replace``."""
    if isinstance(event, OrderPlaced):
        if state is not None:
            raise ValueError(f"order {event.order_id!r} placed twice")
        items = tuple(
            Item(**{f.name: getattr(s, f.name) for f in dataclasses.fields(s)}) for s in event.items
        )
        return Order(
            order_id=event.order_id,
            business_day=event.business_day,
            order_type=event.order_type,
            table_number=event.table_number,
            guest_count=event.guest_count,
            notes=event.notes,
            items=items,
            version=1,
        )
    if state is None:
        raise ValueError(f"{type(event).__name__} before OrderPlaced for {event.order_id!r}")
    changes = _reference_changes(state, event)
    return dataclasses.replace(state, **changes, version=state.version + 1)


def _reference_changes(order: Order, event: Event) -> dict[str, Any]:
    def with_status(ids: tuple[str, ...], status: ItemStatus) -> tuple[Item, ...]:
        return tuple(
            dataclasses.replace(i, status=status) if i.item_id in ids else i for i in order.items
        )

    match event:
        case OrderStatusChanged(to_status=to, reason=reason):
            cancel = reason if to == OrderStatus.CANCELLED else order.cancel_reason
            return {"status": to, "cancel_reason": cancel}
        case ItemsFired(item_ids=ids):
            resets = {OrderStatus.OPEN, OrderStatus.READY, OrderStatus.SERVED}
            status = OrderStatus.SENT if order.status in resets else order.status
            return {
                "items": with_status(ids, ItemStatus.SENT),
                "fired_ever": True,
                "status": status,
            }
        case ItemVoided(item_id=item_id, reason=reason):
            items = tuple(
                dataclasses.replace(i, status=ItemStatus.VOIDED, void_reason=reason)
                if i.item_id == item_id
                else i
                for i in order.items
            )
            return {"items": items}
        case ItemsAdded(items=specs):
            added = reference_evolve(None, OrderPlaced(OID, DAY, OrderType.TAKEOUT, specs)).items
            return {"items": order.items + added}
        case OrderDiscarded():
            return {"discarded": True}
    return decider._changes(order, event)  # the rest: bumps, recalls, holds, changes …


def outcome(apply: Any, state: Order | None, event: Event) -> tuple[str, Any]:
    try:
        after = apply(state, event)
    except Exception as error:
        return ("error", (type(error), str(error)))
    return ("state", (after, _shape(after), hash(after)))


@settings(max_examples=300, deadline=None)
@given(choices)
def test_evolve_gives_the_reference_states(steps: list[Choice]) -> None:
    state: Order | None = None
    for choice in steps:
        try:
            events = decide(state, command_for(state, choice))
        except DomainError:
            continue
        for event in events:
            expected = outcome(reference_evolve, state, event)
            assert outcome(evolve, state, event) == expected
            state = expected[1][0]


def test_every_event_class_folds_like_the_reference() -> None:
    placed = OrderPlaced(OID, DAY, OrderType.DINE_IN, (spec("a"), spec("b")), 7, 2, "window")
    state = reference_evolve(None, placed)
    held = ItemSpec("c", "m", "Tea", 1, 250, (), "hot", None)
    for event in [e for e in EXAMPLES if not isinstance(e, OrderPlaced | OrderDiscarded)]:
        assert outcome(evolve, state, event) == outcome(reference_evolve, state, event)
    for event in (
        ItemsAdded(OID, (held,)),
        OrderStatusChanged(OID, OrderStatus.SENT, OrderStatus.CANCELLED, "left"),
        OrderStatusChanged(OID, OrderStatus.SENT, OrderStatus.READY, "ignored"),
        ItemBumped(OID, "ghost"),
        OrderDiscarded(OID),
        placed,  # placed twice
    ):
        assert outcome(evolve, state, event) == outcome(reference_evolve, state, event)
    for event in EXAMPLES:  # from nothing: placed, or refused
        assert outcome(evolve, None, event) == outcome(reference_evolve, None, event)


def test_events_naming_fields_the_state_lacks_are_refused_alike() -> None:
    state = reference_evolve(None, OrderPlaced(OID, DAY, OrderType.TAKEOUT, (spec("a"),)))
    for event, refused in (
        (OrderDetailsChanged(OID, ("colour",)), True),
        (OrderDetailsChanged(OID, ("order_id",)), False),  # an Order field: set as named
        (ItemChanged(OID, "a", ("price",)), True),
        (ItemChanged(OID, "a", ("order_id",)), True),  # not an Item field
    ):
        got = outcome(evolve, state, event)
        assert got[0] == ("error" if refused else "state")
        assert got == outcome(reference_evolve, state, event)


def test_a_subclass_of_an_event_folds_by_the_general_path() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class LoudBump(ItemBumped):
        pass

    @dataclasses.dataclass(frozen=True, slots=True)
    class PlacedAgain(OrderPlaced):
        pass

    placed = PlacedAgain(OID, DAY, OrderType.TAKEOUT, (spec("a"),))
    state = evolve(None, placed)
    assert state == reference_evolve(None, placed)
    state = evolve(state, ItemsFired(OID, ("a",)))
    assert evolve(state, LoudBump(OID, "a")) == evolve(state, ItemBumped(OID, "a"))
    with pytest.raises(ValueError, match="placed twice"):
        evolve(state, placed)


def test_compiled_copies_are_plain_frozen_instances() -> None:
    placed = OrderPlaced(OID, DAY, OrderType.TAKEOUT, (spec("a"),))
    for state in (evolve(None, placed), evolve(evolve(None, placed), ItemsFired(OID, ("a",)))):
        assert type(state) is Order and type(state.items[0]) is Item
        with pytest.raises(dataclasses.FrozenInstanceError):
            state.version = 9  # type: ignore[misc]
        with pytest.raises(dataclasses.FrozenInstanceError):
            state.items[0].status = ItemStatus.NEW  # type: ignore[misc]
        assert hash(state) == hash(dataclasses.replace(state))


def test_a_setter_for_an_unknown_field_is_refused() -> None:
    with pytest.raises(TypeError, match="no field 'colour'"):
        decider._setter(Order, ("status", "colour"))
