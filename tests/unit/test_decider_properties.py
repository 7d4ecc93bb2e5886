"""Properties of the decider over random command sequences, legal and illegal alike."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import event, given, settings
from hypothesis import strategies as st

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
from domain.decider import DETAIL_FIELDS, ITEM_FIELDS, decide, fold
from domain.errors import DomainError
from domain.events import Event, ItemsFired, ItemSpec, OrderStatusChanged
from domain.model import ItemStatus, Order, OrderStatus, OrderType
from tests.unit.builders import DAY, OID

POOL = [f"i{n}" for n in range(8)]
"""Item ids new items take: collisions exercise the duplicate rules."""
LIVE = {ItemStatus.SENT, ItemStatus.READY}
KITCHEN = {OrderStatus.SENT, OrderStatus.PREPARING, OrderStatus.READY}

Choice = tuple[int, int, int, bool]
"""(command kind, a, b, flag): turned into a command against the current state.

Drawing plain numbers and building the command from the state keeps generation
cheap and lets hypothesis shrink a failing sequence to a few small numbers.
"""
choices = st.lists(
    st.tuples(st.integers(0, 15), st.integers(0, 9), st.integers(0, 9), st.booleans()),
    min_size=20,
    max_size=60,
)


def spec(n: int, valid: bool = True) -> ItemSpec:
    return ItemSpec(POOL[n % len(POOL)], "m", "Soup", 1 if valid else 0, 350 + n)


def specs(a: int, count: int) -> tuple[ItemSpec, ...]:
    # a == 9 slips in a malformed item; repeated ids come from the small pool
    return tuple(spec(a + k * 3, valid=a != 9) for k in range(count))


def command_for(state: Order | None, choice: Choice) -> Command:
    kind, a, b, flag = choice
    if state is None and kind != 1:
        kind = 0
    ids = [item.item_id for item in state.items] if state else []
    ids.append("ghost")
    one = ids[a % len(ids)]
    some = (one,) if b % 3 else (one, ids[b % len(ids)])
    statuses = list(OrderStatus)
    builders: list[Callable[[], Command]] = [
        lambda: PlaceOrder(
            OID, DAY, list(OrderType)[a % 3], specs(a, b % 4), b or None, None, fire=flag
        ),
        lambda: ChangeStatus(OID, statuses[a % 7], "guest left" if flag else ("", None)[b % 2]),
        lambda: ChangeStatus(OID, statuses[(a % 4) + 2]),
        lambda: ChangeStatus(OID, statuses[(a % 4) + 2]),
        lambda: BumpItem(OID, one),
        lambda: BumpItem(OID, one),
        lambda: BumpItem(OID, ids[b % len(ids)]),
        lambda: RecallItem(OID, one),
        lambda: VoidItem(OID, one, "burnt" if flag or b else ""),
        lambda: FireItems(OID, None if flag else some),
        lambda: HoldItems(OID, None if b % 2 else some, release=flag),
        lambda: AddItems(OID, specs(a, b % 3), fire=flag),
        lambda: RemoveItem(OID, one),
        lambda: ChangeItem(OID, one, ITEM_FIELDS[: b % 4] + ("price",) * (a == 9), a % 4, None),
        lambda: ChangeOrderDetails(
            OID, DETAIL_FIELDS[b % 4 :] + ("colour",) * (a == 9), list(OrderType)[a % 3], a
        ),
        lambda: DiscardOrder(OID),
    ]
    return builders[kind]()


@settings(max_examples=300, deadline=None)
@given(choices)
def test_random_command_sequences_keep_the_invariants(steps: list[Choice]) -> None:
    state: Order | None = None
    history: list[Event] = []
    for choice in steps:
        try:
            events = decide(state, command_for(state, choice))
        except DomainError:
            continue  # refused: nothing decided, and the state we hold is untouched
        after = fold(events, state)
        history += events
        check_step(state, events, after)
        assert fold(history) == after
        state = after
        if state is not None:
            event(f"reached {state.status}")


def check_step(before: Order | None, events: list[Event], after: Order | None) -> None:
    if not events:
        assert after == before
        return
    assert after is not None
    assert after.version == (before.version if before else 0) + len(events)
    check_sent_items_are_never_removed(before, after)
    check_status_changes_follow_the_events(before, events, after)
    check_auto_ready(events, after)


def check_sent_items_are_never_removed(before: Order | None, after: Order) -> None:
    kept = {item.item_id for item in after.items}
    fired = {i.item_id for i in (before.items if before else ()) if i.status not in _UNSENT}
    assert fired <= kept


_UNSENT = {ItemStatus.NEW, ItemStatus.HELD}


FIRING_SENDS = {OrderStatus.OPEN, OrderStatus.READY, OrderStatus.SERVED}
"""The statuses an ``ItemsFired`` moves to ``sent`` (the firing is the status change)."""


def check_status_changes_follow_the_events(
    before: Order | None, events: list[Event], after: Order
) -> None:
    """The status moves only by ``OrderStatusChanged`` (from the status it really leaves) or
    by ``ItemsFired`` (open, ready or served to sent); ``sent`` is reached by firing alone."""
    status = before.status if before else OrderStatus.OPEN
    for e in events:
        if isinstance(e, ItemsFired) and status in FIRING_SENDS:
            status = OrderStatus.SENT
        elif isinstance(e, OrderStatusChanged):
            assert e.from_status is status
            assert e.to_status is not OrderStatus.SENT
            status = e.to_status
    assert after.status is status


def check_auto_ready(events: list[Event], after: Order) -> None:
    """Ready exactly when >= 1 live sent item and all ready (zero live: see ``decider``)."""
    live = [item.status for item in after.items if item.status in LIVE]
    all_ready = bool(live) and all(status is ItemStatus.READY for status in live)
    if after.status in KITCHEN and live:
        assert (after.status is OrderStatus.READY) == all_ready
    if after.status in {OrderStatus.SENT, OrderStatus.PREPARING}:
        assert not all_ready
    became_ready = any(
        isinstance(e, OrderStatusChanged) and e.to_status is OrderStatus.READY for e in events
    )
    if became_ready:
        assert all_ready
