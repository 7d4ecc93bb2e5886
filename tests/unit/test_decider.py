"""The order decider: given events, when a command, then events (or an error and none)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace

import pytest

from domain.commands import (
    AddItems,
    BumpItem,
    ChangeItem,
    ChangeOrderDetails,
    ChangeStatus,
    Command,
    DiscardOrder,
    FireItems,
    HoldItems,
    PlaceOrder,
    RecallItem,
    RemoveItem,
    VoidItem,
)
from domain.decider import decide, evolve, fold
from domain.errors import (
    DomainError,
    InvalidCommand,
    ItemNotFound,
    OrderNotFound,
    RuleViolation,
)
from domain.events import (
    Event,
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
)
from domain.model import FINAL_STATUSES, ItemStatus, Order, OrderStatus, OrderType
from tests.unit.builders import (
    DAY,
    DISCARDED,
    EVERY_ITEM_STATUS,
    HISTORIES,
    OID,
    OPEN,
    PREPARING,
    READY,
    SENT,
    SERVED,
    S,
    bumped,
    fired,
    given,
    moved,
    placed,
    spec,
)

I = ItemStatus  # noqa: E741 - short alias for the item matrix


def refused(
    state: Order | None, command: Command, kind: type[DomainError], code: str
) -> DomainError:
    with pytest.raises(kind) as caught:
        decide(state, command)
    assert caught.value.code == code, caught.value
    return caught.value


def then(state: Order | None, command: Command) -> list[Event]:
    """Decide, and check the events fold onto the state (they always must)."""
    events = decide(state, command)
    after = fold(events, state)
    if events:
        assert after is not None
        assert after.version == (state.version if state else 0) + len(events)
    return events


# --- PlaceOrder --------------------------------------------------------------------


def place(**overrides: object) -> PlaceOrder:
    fields: dict[str, object] = {
        "order_id": OID,
        "business_day": DAY,
        "order_type": OrderType.TAKEOUT,
        "items": (spec("a"), spec("b")),
        "guest_count": 2,
    }
    fields.update(overrides)
    return PlaceOrder(**fields)  # type: ignore[arg-type]


def test_placing_and_firing_sends_the_order() -> None:
    events = then(None, place())
    assert events == [
        OrderPlaced(OID, DAY, OrderType.TAKEOUT, (spec("a"), spec("b")), guest_count=2),
        ItemsFired(OID, ("a", "b")),
    ]
    order = fold(events)
    assert order is not None
    assert order.status is S.SENT and order.fired_ever and order.version == 2
    assert [i.status for i in order.items] == [I.SENT, I.SENT]


@pytest.mark.parametrize("command", [place(fire=False), place(items=())])
def test_placing_without_firing_or_items_leaves_it_open(command: PlaceOrder) -> None:
    events = then(None, command)
    assert [type(e) for e in events] == [OrderPlaced]
    order = fold(events)
    assert order is not None
    assert (order.status, order.fired_ever, order.version) == (S.OPEN, False, 1)
    assert all(item.status is I.NEW for item in order.items)


def test_a_dine_in_order_with_its_table_is_placed() -> None:
    events = then(None, place(order_type=OrderType.DINE_IN, table_number=4, fire=False))
    assert events[0] == OrderPlaced(
        OID, DAY, OrderType.DINE_IN, (spec("a"), spec("b")), table_number=4, guest_count=2
    )


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"order_type": OrderType.DINE_IN}, "table_number_required"),
        ({"table_number": 0}, "invalid_table_number"),
        ({"guest_count": 0}, "invalid_guest_count"),
        ({"business_day": "25/11/2026"}, "invalid_business_day"),
        ({"order_id": " "}, "order_id_required"),
        ({"items": (spec("a", quantity=0),)}, "invalid_quantity"),
        ({"items": (spec("a", unit_price=-1),)}, "invalid_price"),
        ({"items": (spec("a"), spec("a"))}, "duplicate_item_ids"),
        ({"items": (spec(""),)}, "item_id_required"),
    ],
)
def test_a_malformed_order_is_refused(overrides: dict[str, object], code: str) -> None:
    refused(None, place(**overrides), InvalidCommand, code)


@pytest.mark.parametrize("history", [OPEN, SENT, DISCARDED])
def test_placing_an_existing_order_is_refused(history: list[Event]) -> None:
    refused(fold(history), place(), RuleViolation, "order_exists")


# --- unknown and discarded orders ----------------------------------------------------

EVERY_OTHER_COMMAND: list[Command] = [
    ChangeOrderDetails(OID, ("notes",), notes="x"),
    DiscardOrder(OID),
    AddItems(OID, (spec("c"),)),
    ChangeItem(OID, "a", ("quantity",), quantity=2),
    RemoveItem(OID, "a"),
    FireItems(OID),
    HoldItems(OID),
    BumpItem(OID, "a"),
    RecallItem(OID, "a"),
    VoidItem(OID, "a", "spilled"),
    ChangeStatus(OID, S.CANCELLED, "guest left"),
]


@pytest.mark.parametrize("command", EVERY_OTHER_COMMAND, ids=lambda c: type(c).__name__)
def test_commands_on_an_unknown_order_are_not_found(command: Command) -> None:
    refused(None, command, OrderNotFound, "order_not_found")


@pytest.mark.parametrize("command", EVERY_OTHER_COMMAND, ids=lambda c: type(c).__name__)
def test_a_discarded_order_is_not_found(command: Command) -> None:
    error = refused(given(DISCARDED), command, OrderNotFound, "order_not_found")
    assert "discarded" in error.message


# --- DiscardOrder ------------------------------------------------------------------


def test_an_open_order_is_discarded() -> None:
    events = then(given(OPEN), DiscardOrder(OID))
    assert events == [OrderDiscarded(OID)]
    assert fold(events, given(OPEN)).discarded  # type: ignore[union-attr]


@pytest.mark.parametrize("status", [s for s in S if s is not S.OPEN])
def test_only_an_open_order_is_discarded(status: OrderStatus) -> None:
    error = refused(given(HISTORIES[status]), DiscardOrder(OID), RuleViolation, "order_not_open")
    assert "cancel it instead" in error.message


# --- ChangeStatus ------------------------------------------------------------------

LEGAL = {
    (S.SENT, S.PREPARING),
    (S.SENT, S.READY),
    (S.PREPARING, S.READY),
    (S.READY, S.SERVED),
    (S.SERVED, S.COMPLETED),
} | {(s, S.CANCELLED) for s in S if s not in FINAL_STATUSES}


@pytest.mark.parametrize(("current", "target"), sorted(LEGAL))
def test_legal_status_changes(current: OrderStatus, target: OrderStatus) -> None:
    reason = "guest left" if target is S.CANCELLED else None
    state = given(HISTORIES[current])
    events = then(state, ChangeStatus(OID, target, reason))
    assert events[-1] == moved(current, target, reason)
    after = fold(events, state)
    assert after is not None and after.status is target
    if target is S.CANCELLED:
        assert after.cancel_reason == "guest left"


@pytest.mark.parametrize(
    ("current", "target"),
    [pair for pair in itertools.product(S, S) if pair not in LEGAL],
)
def test_illegal_status_changes(current: OrderStatus, target: OrderStatus) -> None:
    reason = "guest left" if target is S.CANCELLED else None
    code = "status_unchanged" if current is target else "invalid_transition"
    error = refused(
        given(HISTORIES[current]), ChangeStatus(OID, target, reason), RuleViolation, code
    )
    if code == "invalid_transition":
        assert f"from {current} to {target}" in error.message


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_cancelling_needs_a_reason(reason: str | None) -> None:
    refused(given(SENT), ChangeStatus(OID, S.CANCELLED, reason), InvalidCommand, "reason_required")


def test_an_unknown_status_is_invalid() -> None:
    command = ChangeStatus(OID, "lost")  # type: ignore[arg-type]
    refused(given(SENT), command, InvalidCommand, "invalid_status")


@pytest.mark.parametrize("history", [SENT, PREPARING])
def test_marking_ready_bumps_the_items_still_cooking(history: list[Event]) -> None:
    state = given(history, [bumped("a")])
    events = then(state, ChangeStatus(OID, S.READY))
    assert events == [bumped("b"), moved(state.status, S.READY)]


def test_an_order_whose_sent_items_were_all_voided_cannot_be_ready() -> None:
    state = given(SENT, [ItemVoided(OID, "a", "x"), ItemVoided(OID, "b", "x")])
    refused(state, ChangeStatus(OID, S.READY), RuleViolation, "no_sent_items")


# --- item commands against each item status -------------------------------------------

ACTIONS: dict[str, Callable[[str], Command]] = {
    "change": lambda i: ChangeItem(OID, i, ("quantity",), quantity=3),
    "remove": lambda i: RemoveItem(OID, i),
    "fire": lambda i: FireItems(OID, (i,)),
    "hold": lambda i: HoldItems(OID, (i,)),
    "release": lambda i: HoldItems(OID, (i,), release=True),
    "bump": lambda i: BumpItem(OID, i),
    "recall": lambda i: RecallItem(OID, i),
    "void": lambda i: VoidItem(OID, i, "spilled"),
}
ALLOWED = {
    "change": {I.NEW, I.HELD},
    "remove": {I.NEW, I.HELD},
    "fire": {I.NEW, I.HELD},
    "hold": {I.NEW},
    "release": {I.HELD},
    "bump": {I.SENT},
    "recall": {I.READY},
    "void": {I.SENT, I.READY},
}
REFUSALS = {
    ("hold", I.HELD): "item_already_held",
    ("bump", I.READY): "item_already_ready",
    **{
        (a, s): "item_already_sent"
        for a in ("change", "remove", "fire", "hold")
        for s in (I.SENT, I.READY)
    },
    **{("release", s): "item_not_held" for s in (I.NEW, I.SENT, I.READY)},
    **{("bump", s): "item_not_sent" for s in (I.NEW, I.HELD)},
    **{("void", s): "item_not_sent" for s in (I.NEW, I.HELD)},
    **{("recall", s): "item_not_ready" for s in (I.NEW, I.HELD, I.SENT)},
    **{(a, I.VOIDED): "item_voided" for a in ACTIONS},
}
MATRIX = list(itertools.product(ACTIONS, I))


AFTER = {
    "fire": I.SENT,
    "hold": I.HELD,
    "release": I.NEW,
    "bump": I.READY,
    "recall": I.SENT,
    "void": I.VOIDED,
}
"""The item's status after each allowed action (change keeps it; remove drops the item)."""


@pytest.mark.parametrize(("action", "status"), MATRIX)
def test_item_commands_by_item_status(action: str, status: ItemStatus) -> None:
    state = given(EVERY_ITEM_STATUS)
    command = ACTIONS[action](status.value)
    if status not in ALLOWED[action]:
        refused(state, command, RuleViolation, REFUSALS[(action, status)])
        return
    after = fold(then(state, command), state)
    assert after is not None
    items = {item.item_id: item for item in after.items}
    if action == "remove":
        assert status.value not in items
    elif action == "change":
        assert (items[status.value].status, items[status.value].quantity) == (status, 3)
    else:
        assert items[status.value].status is AFTER[action]


def test_the_refusal_table_covers_every_other_case() -> None:
    assert {pair for pair in MATRIX if pair[1] not in ALLOWED[pair[0]]} == set(REFUSALS)


@pytest.mark.parametrize("action", ACTIONS)
def test_item_commands_on_an_unknown_item_are_not_found(action: str) -> None:
    error = refused(given(SENT), ACTIONS[action]("nope"), ItemNotFound, "item_not_found")
    assert isinstance(error, ItemNotFound) and error.item_id == "nope"


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("status", sorted(FINAL_STATUSES))
def test_a_closed_order_accepts_no_item_command(action: str, status: OrderStatus) -> None:
    refused(given(HISTORIES[status]), ACTIONS[action]("a"), RuleViolation, "order_closed")


@pytest.mark.parametrize("status", sorted(FINAL_STATUSES))
@pytest.mark.parametrize(
    "command",
    [ChangeOrderDetails(OID, ("notes",), notes="x"), AddItems(OID, (spec("c"),)), FireItems(OID)],
    ids=lambda c: type(c).__name__,
)
def test_a_closed_order_accepts_no_change(status: OrderStatus, command: Command) -> None:
    refused(given(HISTORIES[status]), command, RuleViolation, "order_closed")


def test_removing_a_sent_item_says_to_void_it() -> None:
    error = refused(given(SENT), RemoveItem(OID, "a"), RuleViolation, "item_already_sent")
    assert error.message == "sent items cannot be removed; void it instead"


# --- firing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("history", "status"), [(OPEN, S.OPEN), (READY, S.READY), (SERVED, S.SERVED)]
)
def test_firing_sends_an_open_ready_or_served_order(
    history: list[Event], status: OrderStatus
) -> None:
    state = given(history, [ItemsAdded(OID, (spec("c"),))])
    assert state.status is status
    events = then(state, FireItems(OID, ("c",)))
    assert events == [fired("c")]  # the firing is the status change
    after = fold(events, state)
    assert after is not None and after.status is S.SENT
    assert {i.item_id: i.status for i in after.items}["c"] is I.SENT


@pytest.mark.parametrize("history", [SENT, PREPARING])
def test_firing_more_keeps_a_sent_or_preparing_order(history: list[Event]) -> None:
    state = given(history, [ItemsAdded(OID, (spec("c"),))])
    events = then(state, FireItems(OID))
    assert events == [fired("c")]
    after = fold(events, state)
    assert after is not None and after.status is state.status


def test_firing_all_leaves_held_items_held_and_listing_fires_them() -> None:
    state = given([placed("a", "b", "c"), ItemsHeld(OID, ("b",))])
    assert then(state, FireItems(OID))[0] == fired("a", "c")
    assert then(state, FireItems(OID, ("b",)))[0] == fired("b")


def test_firing_nothing_is_refused() -> None:
    state = given([placed("a"), ItemsHeld(OID, ("a",))])
    refused(state, FireItems(OID), RuleViolation, "nothing_to_fire")
    refused(given(SENT), FireItems(OID), RuleViolation, "nothing_to_fire")


@pytest.mark.parametrize(
    ("item_ids", "code"), [((), "items_required"), (("a", "a"), "duplicate_item_ids")]
)
def test_a_malformed_item_list_is_invalid(item_ids: tuple[str, ...], code: str) -> None:
    for command in (FireItems(OID, item_ids), HoldItems(OID, item_ids)):
        refused(given(OPEN), command, InvalidCommand, code)


# --- holding -------------------------------------------------------------------------


def test_holding_and_releasing_all() -> None:
    state = given([placed("a", "b")])
    assert then(state, HoldItems(OID)) == [ItemsHeld(OID, ("a", "b"))]
    held = given([placed("a", "b"), ItemsHeld(OID, ("a",))])
    assert then(held, HoldItems(OID, release=True)) == [ItemsReleased(OID, ("a",))]
    assert fold([ItemsReleased(OID, ("a",))], held).items[0].status is I.NEW  # type: ignore[union-attr]


def test_holding_or_releasing_nothing_is_refused() -> None:
    refused(given(SENT), HoldItems(OID), RuleViolation, "nothing_to_hold")
    refused(given(SENT), HoldItems(OID, release=True), RuleViolation, "nothing_to_release")


# --- bump, recall, void and auto-ready --------------------------------------------------


@pytest.mark.parametrize("history", [SENT, PREPARING])
def test_bumping_the_last_item_makes_the_order_ready(history: list[Event]) -> None:
    state = given(history, [bumped("a")])
    assert then(state, BumpItem(OID, "b")) == [bumped("b"), moved(state.status, S.READY)]


def test_bumping_one_of_several_only_bumps_it() -> None:
    assert then(given(SENT), BumpItem(OID, "a")) == [bumped("a")]


def test_held_and_new_items_do_not_delay_ready() -> None:
    state = given(EVERY_ITEM_STATUS)
    assert then(state, BumpItem(OID, "sent")) == [bumped("sent"), moved(S.SENT, S.READY)]


def test_voiding_the_last_unready_item_makes_the_order_ready() -> None:
    state = given(SENT, [bumped("a")])
    events = then(state, VoidItem(OID, "b", "burnt"))
    assert events == [ItemVoided(OID, "b", "burnt"), moved(S.SENT, S.READY)]


def test_voiding_every_item_does_not_make_the_order_ready() -> None:
    state = given(SENT, [ItemVoided(OID, "a", "x")])
    assert then(state, VoidItem(OID, "b", "burnt")) == [ItemVoided(OID, "b", "burnt")]


def test_voiding_on_a_ready_order_keeps_it_ready() -> None:
    events = then(given(READY), VoidItem(OID, "a", "dropped"))
    assert events == [ItemVoided(OID, "a", "dropped")]
    voided = fold(events, given(READY))
    assert voided is not None and voided.items[0].void_reason == "dropped"


@pytest.mark.parametrize("reason", ["", "  "])
def test_voiding_needs_a_reason(reason: str) -> None:
    refused(given(SENT), VoidItem(OID, "a", reason), InvalidCommand, "reason_required")


@pytest.mark.parametrize(("history", "status"), [(READY, S.READY), (SERVED, S.SERVED)])
def test_recall_takes_a_ready_or_served_order_back_to_preparing(
    history: list[Event], status: OrderStatus
) -> None:
    events = then(given(history), RecallItem(OID, "a"))
    assert events == [ItemRecalled(OID, "a"), moved(status, S.PREPARING)]


def test_recall_on_a_sent_order_keeps_its_status() -> None:
    state = given(SENT, [bumped("a")])
    assert then(state, RecallItem(OID, "a")) == [ItemRecalled(OID, "a")]


# --- adding, changing and removing items -----------------------------------------------


def test_adding_items_without_firing() -> None:
    assert then(given(SENT), AddItems(OID, (spec("c"),))) == [ItemsAdded(OID, (spec("c"),))]


def test_adding_and_firing_on_a_ready_order_sends_it_again() -> None:
    events = then(given(READY), AddItems(OID, (spec("c"),), fire=True))
    assert events == [ItemsAdded(OID, (spec("c"),)), fired("c")]
    after = fold(events, given(READY))
    assert after is not None and after.status is S.SENT


@pytest.mark.parametrize(
    ("items", "kind", "code"),
    [
        ((), InvalidCommand, "items_required"),
        ((spec("c"), spec("c")), InvalidCommand, "duplicate_item_ids"),
        ((spec("c", quantity=0),), InvalidCommand, "invalid_quantity"),
        ((spec("a"),), RuleViolation, "item_exists"),
    ],
)
def test_adding_bad_items_is_refused(
    items: tuple[object, ...], kind: type[DomainError], code: str
) -> None:
    refused(given(SENT), AddItems(OID, items), kind, code)  # type: ignore[arg-type]


def test_changing_an_item_lists_only_what_changed() -> None:
    command = ChangeItem(OID, "a", ("quantity", "notes", "modifiers"), quantity=1, notes="rare")
    events = then(given(OPEN), command)
    assert events == [ItemChanged(OID, "a", ("modifiers", "notes"), modifiers=(), notes="rare")]
    item = fold(events, given(OPEN)).items[0]  # type: ignore[union-attr]
    assert (item.quantity, item.modifiers, item.notes) == (1, (), "rare")


@pytest.mark.parametrize("changed", [(), ("quantity",)])
def test_a_change_that_changes_nothing_decides_nothing(changed: tuple[str, ...]) -> None:
    assert then(given(OPEN), ChangeItem(OID, "a", changed, quantity=1)) == []


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (ChangeItem(OID, "a", ("price",)), "unknown_field"),
        (ChangeItem(OID, "a", ("quantity",), quantity=0), "invalid_quantity"),
        (ChangeItem(OID, "a", ("quantity",)), "invalid_quantity"),
    ],
)
def test_a_malformed_item_change_is_invalid(command: ChangeItem, code: str) -> None:
    refused(given(OPEN), command, InvalidCommand, code)


def test_removing_a_new_item() -> None:
    events = then(given(OPEN), RemoveItem(OID, "a"))
    assert events == [ItemRemoved(OID, "a")]
    assert [i.item_id for i in fold(events, given(OPEN)).items] == ["b"]  # type: ignore[union-attr]


# --- order details -----------------------------------------------------------------


def test_changing_details_lists_only_what_changed() -> None:
    command = ChangeOrderDetails(
        OID, ("order_type", "table_number", "guest_count"), OrderType.DINE_IN, 9, 2
    )
    events = then(given(SENT), command)
    assert events == [
        OrderDetailsChanged(OID, ("order_type", "table_number"), OrderType.DINE_IN, 9)
    ]
    after = fold(events, given(SENT))
    assert after is not None
    assert (after.order_type, after.table_number, after.guest_count) == (OrderType.DINE_IN, 9, 2)


def test_clearing_a_field() -> None:
    state = given([placed("a"), OrderDetailsChanged(OID, ("notes",), notes="window seat")])
    events = then(state, ChangeOrderDetails(OID, ("notes",)))
    assert events == [OrderDetailsChanged(OID, ("notes",))]
    assert fold(events, state).notes is None  # type: ignore[union-attr]


def test_a_details_change_that_changes_nothing_decides_nothing() -> None:
    assert then(given(OPEN), ChangeOrderDetails(OID, ("guest_count",), guest_count=2)) == []


@pytest.mark.parametrize(
    ("state_events", "command", "code"),
    [
        (OPEN, ChangeOrderDetails(OID, ("colour",)), "unknown_field"),
        (OPEN, ChangeOrderDetails(OID, ("order_type",)), "order_type_required"),
        (
            OPEN,
            ChangeOrderDetails(OID, ("order_type",), OrderType.DINE_IN),
            "table_number_required",
        ),
        (
            [placed("a", order_type=OrderType.DINE_IN)],
            ChangeOrderDetails(OID, ("table_number",)),
            "table_number_required",
        ),
        (OPEN, ChangeOrderDetails(OID, ("guest_count",), guest_count=0), "invalid_guest_count"),
    ],
)
def test_a_bad_details_change_is_invalid(
    state_events: list[Event], command: ChangeOrderDetails, code: str
) -> None:
    refused(given(state_events), command, InvalidCommand, code)


# --- evolve --------------------------------------------------------------------------


def test_each_event_adds_one_to_the_version() -> None:
    versions = []
    state = None
    for event in READY:
        state = evolve(state, event)
        versions.append(state.version)
    assert versions == list(range(1, len(READY) + 1))


def test_evolve_refuses_a_stream_that_does_not_start_with_placing() -> None:
    with pytest.raises(ValueError, match="before OrderPlaced"):
        evolve(None, fired("a"))
    with pytest.raises(ValueError, match="placed twice"):
        evolve(given(OPEN), placed("a"))


def test_decide_refuses_a_state_of_another_order() -> None:
    with pytest.raises(ValueError):
        decide(given(OPEN), FireItems("another"))


def test_a_malformed_command_is_invalid_before_the_order_is_looked_at() -> None:
    refused(None, VoidItem(OID, "a", ""), InvalidCommand, "reason_required")
    refused(given(HISTORIES[S.COMPLETED]), AddItems(OID, ()), InvalidCommand, "items_required")


# --- streams written before firing was the status change ---------------------------------
# They carry an explicit OrderStatusChanged to sent right after each ItemsFired that sent the
# order; replaying them must give the same order (one more event, so one more version).


def test_an_old_placed_and_fired_stream_folds_to_the_same_order() -> None:
    old = fold([placed("a", "b"), fired("a", "b"), moved(S.OPEN, S.SENT)])
    new = fold([placed("a", "b"), fired("a", "b")])
    assert old is not None and new is not None
    assert (old.version, new.version) == (3, 2)
    assert old == replace(new, version=3)
    assert new.status is S.SENT and new.fired_ever


@pytest.mark.parametrize(("history", "status"), [(READY, S.READY), (SERVED, S.SERVED)])
def test_an_old_stream_that_fired_a_ready_or_served_order_again_folds_the_same(
    history: list[Event], status: OrderStatus
) -> None:
    added = ItemsAdded(OID, (spec("c"),))
    old = given(history, [added, fired("c"), moved(status, S.SENT)])
    new = given(history, [added, fired("c")])
    assert new.version == len(history) + 2 and old.version == new.version + 1
    assert old == replace(new, version=old.version)
    assert new.status is S.SENT
    assert {i.item_id: i.status for i in new.items} == {"a": I.READY, "b": I.READY, "c": I.SENT}


@pytest.mark.parametrize("status", [s for s in S if s is not S.OPEN], ids=str)
def test_events_after_an_old_style_firing_fold_the_same(status: OrderStatus) -> None:
    history = HISTORIES[status]
    assert history[: len(SENT)] == SENT
    old = given(OPEN, [fired("a", "b"), moved(S.OPEN, S.SENT)], history[len(SENT) :])
    new = given(history)
    assert old == replace(new, version=new.version + 1)
    assert new.status is status
