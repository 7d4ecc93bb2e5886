"""The order aggregate as pure functions: ``decide``, ``evolve`` and ``fold``.

``decide(state, command)`` checks the command against the order folded so far
and returns the events that record what happened, or raises a ``DomainError``
and decides nothing. ``evolve`` applies one event with no judgement of its own, so
replaying a stream always yields the state the decider saw. Status changes are
explicit ``OrderStatusChanged`` events, with one exception: ``ItemsFired`` is itself
the move of an ``open``, ``ready`` or ``served`` order to ``sent`` (firing is what
sends an order; a separate event said it twice, and cost every kitchen screen a
second message per ticket). Streams written when the decider still appended that
``OrderStatusChanged`` after the firing fold to the same state.

Choices where the design is silent:

- A discarded order answers every command with ``OrderNotFound`` (it was
  deleted as far as clients know), except ``PlaceOrder`` with its id, which is
  ``order_exists`` (the stream exists).
- A change that changes nothing (``ChangeOrderDetails``/``ChangeItem`` whose
  values equal the current ones, or an empty ``changed``) decides no events;
  events list only the fields that really changed.
- ``PlaceOrder(fire=True)`` without items just places the order (an empty tab).
- ``FireItems`` without ids fires the ``new`` items only; held items stay held
  until listed or released.
- Marking an order ready needs at least one live sent item; an order whose
  sent items were all voided is cancelled, not made ready. Voiding every live
  item of an order that is already ``ready`` leaves it ``ready``.
- Recall takes a ``ready`` or ``served`` order back to ``preparing``; firing
  takes an ``open``, ``ready`` or ``served`` order to ``sent``; ``preparing``
  stays ``preparing``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, fields
from datetime import date
from typing import Any, TypeVar, assert_never

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
from domain.errors import InvalidCommand, ItemNotFound, OrderNotFound, RuleViolation
from domain.events import (
    Event,
    ItemBumped,
    ItemChanged,
    ItemRecalled,
    ItemRemoved,
    ItemsAdded,
    ItemsFired,
    ItemsHeld,
    ItemSpec,
    ItemsReleased,
    ItemVoided,
    OrderDetailsChanged,
    OrderDiscarded,
    OrderPlaced,
    OrderStatusChanged,
)
from domain.model import FINAL_STATUSES, Item, ItemStatus, Order, OrderStatus, OrderType

__all__ = ["DETAIL_FIELDS", "ITEM_FIELDS", "decide", "evolve", "fold"]

DETAIL_FIELDS = ("order_type", "table_number", "guest_count", "notes")
"""Order fields ``ChangeOrderDetails`` may name, in the order events list them."""
ITEM_FIELDS = ("quantity", "modifiers", "notes")
"""Item fields ``ChangeItem`` may name, in the order events list them."""

_LIVE_SENT = frozenset({ItemStatus.SENT, ItemStatus.READY})
_AUTO_READY_FROM = frozenset({OrderStatus.SENT, OrderStatus.PREPARING})
_FIRING_RESETS = frozenset({OrderStatus.OPEN, OrderStatus.READY, OrderStatus.SERVED})
_RECALL_RESETS = frozenset({OrderStatus.READY, OrderStatus.SERVED})

_STATUS_FROM: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PREPARING: frozenset({OrderStatus.SENT}),
    OrderStatus.READY: frozenset({OrderStatus.SENT, OrderStatus.PREPARING}),
    OrderStatus.SERVED: frozenset({OrderStatus.READY}),
    OrderStatus.COMPLETED: frozenset({OrderStatus.SERVED}),
    OrderStatus.CANCELLED: frozenset(OrderStatus) - FINAL_STATUSES,
}
"""ChangeStatus: target status -> the statuses it may be reached from."""


# --- decide -------------------------------------------------------------------------


def decide(state: Order | None, command: Command) -> list[Event]:
    """The events that carry out ``command`` on ``state``; raises ``DomainError`` instead.

    Checks run in the order a client can fix them: the command's own shape
    (``InvalidCommand``), then the order (``OrderNotFound``, ``order_closed``), then
    the item and the rule.
    """
    _check_command(command)
    if isinstance(command, PlaceOrder):
        return _place_order(state, command)
    order = _existing(state, command.order_id)
    match command:
        case ChangeStatus():
            return _change_status(order, command)
        case DiscardOrder():
            return _discard(order)
    _require_not_final(order)
    match command:
        case ChangeOrderDetails():
            return _change_details(order, command)
        case AddItems():
            return _add_items(order, command)
        case ChangeItem():
            return _change_item(order, command)
        case RemoveItem():
            return _remove_item(order, command)
        case FireItems():
            return _fire_items(order, command)
        case HoldItems():
            return _hold_items(order, command)
        case BumpItem():
            return _bump_item(order, command)
        case RecallItem():
            return _recall_item(order, command)
        case VoidItem():
            return _void_item(order, command)
        case _:
            assert_never(command)


def _existing(state: Order | None, order_id: str) -> Order:
    if state is None:
        raise OrderNotFound(order_id)
    if state.order_id != order_id:
        raise ValueError(f"command for order {order_id!r} decided on order {state.order_id!r}")
    if state.discarded:
        raise OrderNotFound(order_id, f"order {order_id!r} was discarded")
    return state


def _require_not_final(order: Order) -> None:
    if order.status in FINAL_STATUSES:
        raise RuleViolation(
            "order_closed",
            f"order is {order.status}; completed and cancelled orders accept no changes",
        )


def _place_order(state: Order | None, cmd: PlaceOrder) -> list[Event]:
    if state is not None:
        raise RuleViolation("order_exists", f"order {cmd.order_id!r} already exists")
    placed = OrderPlaced(
        order_id=cmd.order_id,
        business_day=cmd.business_day,
        order_type=cmd.order_type,
        items=cmd.items,
        table_number=cmd.table_number,
        guest_count=cmd.guest_count,
        notes=cmd.notes,
    )
    if not (cmd.fire and cmd.items):
        return [placed]
    return [placed, ItemsFired(cmd.order_id, tuple(s.item_id for s in cmd.items))]


def _discard(order: Order) -> list[Event]:
    if order.status != OrderStatus.OPEN or order.fired_ever:
        raise RuleViolation(
            "order_not_open",
            f"order is {order.status}; only an open order that was never fired can be "
            "discarded; cancel it instead",
        )
    return [OrderDiscarded(order.order_id)]


def _change_details(order: Order, cmd: ChangeOrderDetails) -> list[Event]:
    wanted = {name: getattr(cmd, name) for name in cmd.changed}
    # the details the order would have: a dine-in order must keep a table
    after = {name: wanted.get(name, getattr(order, name)) for name in DETAIL_FIELDS}
    _check_details(after["order_type"], after["table_number"], after["guest_count"])
    changed = tuple(f for f in DETAIL_FIELDS if f in wanted and wanted[f] != getattr(order, f))
    if not changed:
        return []
    values = {name: wanted[name] for name in changed}
    return [OrderDetailsChanged(order.order_id, changed, **values)]


def _add_items(order: Order, cmd: AddItems) -> list[Event]:
    existing = {item.item_id for item in order.items}
    for spec in cmd.items:
        if spec.item_id in existing:
            raise RuleViolation("item_exists", f"order already has an item {spec.item_id!r}")
    added = ItemsAdded(order.order_id, cmd.items)
    if not cmd.fire:
        return [added]
    return [added, ItemsFired(order.order_id, tuple(s.item_id for s in cmd.items))]


def _change_item(order: Order, cmd: ChangeItem) -> list[Event]:
    item = _item_for(order, cmd.item_id, "change")
    wanted = {name: getattr(cmd, name) for name in cmd.changed}
    if "modifiers" in wanted:
        wanted["modifiers"] = tuple(wanted["modifiers"] or ())
    changed = tuple(f for f in ITEM_FIELDS if f in wanted and wanted[f] != getattr(item, f))
    if not changed:
        return []
    values = {name: wanted[name] for name in changed}
    return [ItemChanged(order.order_id, item.item_id, changed, **values)]


def _remove_item(order: Order, cmd: RemoveItem) -> list[Event]:
    item = _item_for(order, cmd.item_id, "remove")
    return [ItemRemoved(order.order_id, item.item_id)]


def _fire_items(order: Order, cmd: FireItems) -> list[Event]:
    if cmd.item_ids is None:
        ids = _ids_with_status(order, ItemStatus.NEW)
        if not ids:
            raise RuleViolation(
                "nothing_to_fire",
                "no new items to fire; list held items (or release them) to fire them",
            )
    else:
        ids = _listed_items(order, cmd.item_ids, "fire")
    return [ItemsFired(order.order_id, ids)]


def _hold_items(order: Order, cmd: HoldItems) -> list[Event]:
    action, source = ("release", ItemStatus.HELD) if cmd.release else ("hold", ItemStatus.NEW)
    if cmd.item_ids is None:
        ids = _ids_with_status(order, source)
        if not ids:
            raise RuleViolation(f"nothing_to_{action}", f"no {source} items to {action}")
    else:
        ids = _listed_items(order, cmd.item_ids, action)
    if cmd.release:
        return [ItemsReleased(order.order_id, ids)]
    return [ItemsHeld(order.order_id, ids)]


def _bump_item(order: Order, cmd: BumpItem) -> list[Event]:
    item = _item_for(order, cmd.item_id, "bump")
    return _with_auto_ready(order, ItemBumped(order.order_id, item.item_id))


def _recall_item(order: Order, cmd: RecallItem) -> list[Event]:
    item = _item_for(order, cmd.item_id, "recall")
    recalled = ItemRecalled(order.order_id, item.item_id)
    if order.status not in _RECALL_RESETS:
        return [recalled]
    return [recalled, OrderStatusChanged(order.order_id, order.status, OrderStatus.PREPARING)]


def _void_item(order: Order, cmd: VoidItem) -> list[Event]:
    item = _item_for(order, cmd.item_id, "void")
    return _with_auto_ready(order, ItemVoided(order.order_id, item.item_id, cmd.reason))


def _change_status(order: Order, cmd: ChangeStatus) -> list[Event]:
    target = OrderStatus(cmd.status)
    if target == order.status:
        raise RuleViolation("status_unchanged", f"order is already {target}")
    allowed = _STATUS_FROM.get(target, frozenset())
    if order.status not in allowed:
        raise RuleViolation("invalid_transition", _transition_message(order.status, target))
    changed = OrderStatusChanged(order.order_id, order.status, target, cmd.reason)
    if target != OrderStatus.READY:
        return [changed]
    return [*_bump_remaining(order), changed]


def _target_status(status: str) -> OrderStatus:
    try:
        return OrderStatus(status)
    except ValueError:
        raise InvalidCommand("invalid_status", f"unknown status {status!r}", "status") from None


def _transition_message(current: OrderStatus, target: OrderStatus) -> str:
    sources = sorted(_STATUS_FROM.get(target, ()))
    if not sources:
        return (
            f"cannot change status from {current} to {target}; no status change leads to {target}"
        )
    return (
        f"cannot change status from {current} to {target}; "
        f"{target} is reached only from {', '.join(sources)}"
    )


def _bump_remaining(order: Order) -> list[Event]:
    live = [item for item in order.items if item.status in _LIVE_SENT]
    if not live:
        raise RuleViolation(
            "no_sent_items",
            "order has no sent items to be ready; fire items first, or cancel the order",
        )
    return [ItemBumped(order.order_id, i.item_id) for i in live if i.status == ItemStatus.SENT]


def _with_auto_ready(order: Order, event: Event) -> list[Event]:
    """``event`` plus the move to ``ready`` when it leaves every live sent item ready."""
    after = evolve(order, event)
    if after.status not in _AUTO_READY_FROM or not _all_sent_ready(after):
        return [event]
    return [event, OrderStatusChanged(order.order_id, after.status, OrderStatus.READY)]


def _all_sent_ready(order: Order) -> bool:
    live = [item.status for item in order.items if item.status in _LIVE_SENT]
    return bool(live) and all(status == ItemStatus.READY for status in live)


def _ids_with_status(order: Order, status: ItemStatus) -> tuple[str, ...]:
    return tuple(item.item_id for item in order.items if item.status == status)


def _listed_items(order: Order, item_ids: tuple[str, ...], action: str) -> tuple[str, ...]:
    return tuple(_item_for(order, item_id, action).item_id for item_id in item_ids)


# --- item rules ---------------------------------------------------------------------

_SENT_NO_CHANGE = ("item_already_sent", "sent items cannot be changed; void it and add a new one")
_NOT_SENT = ("item_not_sent", "item {id} has not been fired; fire it first")

_ITEM_RULES: dict[str, tuple[frozenset[ItemStatus], dict[ItemStatus, tuple[str, str]]]] = {
    "change": (
        frozenset({ItemStatus.NEW, ItemStatus.HELD}),
        {ItemStatus.SENT: _SENT_NO_CHANGE, ItemStatus.READY: _SENT_NO_CHANGE},
    ),
    "remove": (
        frozenset({ItemStatus.NEW, ItemStatus.HELD}),
        dict.fromkeys(
            (ItemStatus.SENT, ItemStatus.READY),
            ("item_already_sent", "sent items cannot be removed; void it instead"),
        ),
    ),
    "fire": (
        frozenset({ItemStatus.NEW, ItemStatus.HELD}),
        dict.fromkeys(
            (ItemStatus.SENT, ItemStatus.READY), ("item_already_sent", "item {id} is already sent")
        ),
    ),
    "hold": (
        frozenset({ItemStatus.NEW}),
        {
            ItemStatus.HELD: ("item_already_held", "item {id} is already held"),
            ItemStatus.SENT: ("item_already_sent", "sent items cannot be held"),
            ItemStatus.READY: ("item_already_sent", "sent items cannot be held"),
        },
    ),
    "release": (
        frozenset({ItemStatus.HELD}),
        dict.fromkeys(
            (ItemStatus.NEW, ItemStatus.SENT, ItemStatus.READY),
            ("item_not_held", "item {id} is not held"),
        ),
    ),
    "bump": (
        frozenset({ItemStatus.SENT}),
        {
            ItemStatus.NEW: _NOT_SENT,
            ItemStatus.HELD: _NOT_SENT,
            ItemStatus.READY: (
                "item_already_ready",
                "item {id} is already ready; recall it to redo it",
            ),
        },
    ),
    "recall": (
        frozenset({ItemStatus.READY}),
        dict.fromkeys(
            (ItemStatus.NEW, ItemStatus.HELD, ItemStatus.SENT),
            ("item_not_ready", "only ready items can be recalled"),
        ),
    ),
    "void": (
        frozenset({ItemStatus.SENT, ItemStatus.READY}),
        dict.fromkeys(
            (ItemStatus.NEW, ItemStatus.HELD),
            ("item_not_sent", "only sent items are voided; remove item {id} instead"),
        ),
    ),
}
"""action -> (item statuses it is allowed from, refusal (code, message) per other status)."""
_VOIDED = ("item_voided", "item {id} is voided; cannot {action} a voided item")


def _item_for(order: Order, item_id: str, action: str) -> Item:
    """The item, if ``action`` is allowed on it now; raises the rule's error otherwise."""
    item = _find_item(order, item_id)
    allowed, refusals = _ITEM_RULES[action]
    if item.status not in allowed:
        code, template = refusals.get(item.status, _VOIDED)
        raise RuleViolation(code, template.format(id=repr(item_id), action=action))
    return item


def _find_item(order: Order, item_id: str) -> Item:
    for item in order.items:
        if item.item_id == item_id:
            return item
    raise ItemNotFound(order.order_id, item_id)


# --- command validation (state-independent: InvalidCommand) ---------------------------


def _check_command(command: Command) -> None:
    match command:
        case PlaceOrder():
            _check_text(command.order_id, "order_id")
            _check_business_day(command.business_day)
            _check_details(command.order_type, command.table_number, command.guest_count)
            _check_item_specs(command.items, required=False)
        case AddItems():
            _check_item_specs(command.items, required=True)
        case ChangeOrderDetails():
            _check_known_fields(command.changed, DETAIL_FIELDS)
            if "order_type" in command.changed and command.order_type is None:
                raise InvalidCommand(
                    "order_type_required", "order_type cannot be cleared", "order_type"
                )
        case ChangeItem():
            _check_known_fields(command.changed, ITEM_FIELDS)
            if "quantity" in command.changed:
                _check_quantity(command.quantity)
        case FireItems() | HoldItems() if command.item_ids is not None:
            _check_ids(command.item_ids)
        case VoidItem():
            _check_reason(command.reason)
        case ChangeStatus():
            if _target_status(command.status) == OrderStatus.CANCELLED:
                _check_reason(command.reason)


def _check_text(value: str, field: str) -> None:
    if not value.strip():
        raise InvalidCommand(f"{field}_required", f"{field} must not be empty", field)


def _check_reason(reason: str | None) -> None:
    if reason is None or not reason.strip():
        raise InvalidCommand("reason_required", "a non-empty reason is required", "reason")


def _check_business_day(value: str) -> None:
    try:
        date.fromisoformat(value)
    except ValueError:
        raise InvalidCommand(
            "invalid_business_day", f"business_day {value!r} is not an ISO date", "business_day"
        ) from None


def _check_details(
    order_type: OrderType, table_number: int | None, guest_count: int | None
) -> None:
    if table_number is not None and table_number < 1:
        raise InvalidCommand(
            "invalid_table_number", "table_number must be 1 or more", "table_number"
        )
    if guest_count is not None and guest_count < 1:
        raise InvalidCommand("invalid_guest_count", "guest_count must be 1 or more", "guest_count")
    if order_type == OrderType.DINE_IN and table_number is None:
        raise InvalidCommand(
            "table_number_required", "dine-in orders need a table_number", "table_number"
        )


def _check_item_specs(specs: tuple[ItemSpec, ...], *, required: bool) -> None:
    if required and not specs:
        raise InvalidCommand("items_required", "give at least one item", "items")
    _check_unique(tuple(spec.item_id for spec in specs))
    for spec in specs:
        _check_text(spec.item_id, "item_id")
        _check_text(spec.name, "name")
        _check_quantity(spec.quantity)
        if spec.unit_price < 0:
            raise InvalidCommand(
                "invalid_price", "unit_price must be zero or more (integer cents)", "unit_price"
            )


def _check_quantity(quantity: int | None) -> None:
    if quantity is None or quantity < 1:
        raise InvalidCommand("invalid_quantity", "quantity must be 1 or more", "quantity")


def _check_ids(item_ids: tuple[str, ...]) -> None:
    if not item_ids:
        raise InvalidCommand(
            "items_required", "list at least one item id, or omit the list", "item_ids"
        )
    _check_unique(item_ids)


def _check_unique(item_ids: tuple[str, ...]) -> None:
    if len(set(item_ids)) != len(item_ids):
        raise InvalidCommand("duplicate_item_ids", "each item id may appear once", "item_ids")


def _check_known_fields(changed: tuple[str, ...], known: tuple[str, ...]) -> None:
    for name in changed:
        if name not in known:
            raise InvalidCommand(
                "unknown_field", f"cannot change {name!r}; changeable: {', '.join(known)}", name
            )


# --- evolve -------------------------------------------------------------------------


def fold(events: Iterable[Event], state: Order | None = None) -> Order | None:
    """The order after ``events`` (from ``state``, by default from nothing)."""
    for event in events:
        state = evolve(state, event)
    return state


def evolve(state: Order | None, event: Event) -> Order:
    """Apply one event; ``version`` goes up by one (it is the stream version)."""
    if state is None:
        if isinstance(event, OrderPlaced):
            return _placed(event)
        raise ValueError(f"{type(event).__name__} before OrderPlaced for {event.order_id!r}")
    apply = _APPLY.get(type(event))
    if apply is not None:
        return apply(state, event)
    # not one of the event classes themselves (a subclass): the general path
    changes = _changes(state, event)
    changes["version"] = state.version + 1  # one copy per event, the version set with the rest
    return _copy(state, changes)


_T = TypeVar("_T", Order, Item)
_Copier = Callable[[Any, Mapping[str, Any]], Any]
_COPIERS: dict[type, tuple[_Copier, frozenset[str]]] = {}
_DRAFTS: dict[type, type] = {}


def replace(obj: _T, **changes: Any) -> _T:
    """``dataclasses.replace`` for ``Order`` and ``Item`` (frozen, slotted, no
    ``__post_init__``), without its per-call field introspection."""
    return _copy(obj, changes)


def _copy(obj: _T, changes: Mapping[str, Any]) -> _T:
    entry = _COPIERS.get(type(obj))
    if entry is None:
        entry = _COPIERS[type(obj)] = _copier(type(obj))
    copier, known = entry
    if not changes.keys() <= known:
        unknown = sorted(changes.keys() - known)[0]
        raise TypeError(f"{type(obj).__name__} has no field {unknown!r}")
    copy: _T = copier(obj, changes)
    return copy


# Compiled per class, as ``dataclasses`` compiles ``__init__``: ``evolve`` copies an order,
# and often items, for every event of every fold and replay; a loop over the fields, or a
# frozen ``__init__`` (an ``object.__setattr__`` call per field), were a third of a
# rebuild's folding time. Each function fills an instance of a plain class with the same
# slots (plain attribute stores) and then gives it ``cls`` as its class: the result is an
# ordinary ``cls`` instance. Python allows the switch only between identical layouts, so a
# class this does not fit (say, with a ``__dict__``) fails at its first use, never silently.
# The sources hold only the class's own field names.


def _draft(cls: type) -> type:
    draft = _DRAFTS.get(cls)
    if draft is None:
        names = tuple(f.name for f in fields(cls))
        draft = _DRAFTS[cls] = type(f"_{cls.__name__}Draft", (), {"__slots__": names})
    return draft


def _compiled(cls: type, name: str, lines: list[str], **names: Any) -> Any:
    namespace: dict[str, Any] = {"cls": cls, "draft": _draft(cls), "new": object.__new__, **names}
    exec("\n".join(lines), namespace)
    return namespace[name]


def _copier(cls: type) -> tuple[_Copier, frozenset[str]]:
    """``copier(obj, changes)``: a copy of ``obj`` with ``changes`` (field -> value)."""
    names = [f.name for f in fields(cls)]
    lines = [f"    copy.{n} = changes[{n!r}] if {n!r} in changes else obj.{n}" for n in names]
    source = [
        "def copier(obj, changes):",
        "    copy = new(draft)",
        *lines,
        "    copy.__class__ = cls",
        "    return copy",
    ]
    copier: _Copier = _compiled(cls, "copier", source)
    return copier, frozenset(names)


def _setter(cls: type, changed: tuple[str, ...]) -> Callable[..., Any]:
    """``setter(obj, *values)``: a copy of ``obj`` with the fields ``changed`` set to
    ``values`` (in that order); ``evolve``'s copy for one kind of event."""
    names = [f.name for f in fields(cls)]
    if not set(changed) <= set(names):
        raise TypeError(f"{cls.__name__} has no field {sorted(set(changed) - set(names))[0]!r}")
    lines = [f"    copy.{n} = v_{n}" if n in changed else f"    copy.{n} = obj.{n}" for n in names]
    source = [
        f"def setter(obj, {', '.join(f'v_{n}' for n in changed)}):",
        "    copy = new(draft)",
        *lines,
        "    copy.__class__ = cls",
        "    return copy",
    ]
    return _compiled(cls, "setter", source)  # type: ignore[no-any-return]


def _maker(cls: type) -> Callable[..., Any]:
    """``make(*values)``: a new instance, as ``cls(*values)`` (omitted fields at their
    defaults; no default factories)."""
    names, defaults = [], {}
    for f in fields(cls):
        if f.default is MISSING:
            names.append(f"v_{f.name}")
        else:
            defaults[f"d_{f.name}"] = f.default
            names.append(f"v_{f.name}=d_{f.name}")
    lines = [f"    obj.{f.name} = v_{f.name}" for f in fields(cls)]
    source = [
        f"def make({', '.join(names)}):",
        "    obj = new(draft)",
        *lines,
        "    obj.__class__ = cls",
        "    return obj",
    ]
    return _compiled(cls, "make", source, **defaults)  # type: ignore[no-any-return]


_make_item: Callable[..., Item] = _maker(Item)
_make_order: Callable[..., Order] = _maker(Order)
_item_status: Callable[[Item, ItemStatus], Item] = _setter(Item, ("status",))
_item_voided: Callable[[Item, ItemStatus, str], Item] = _setter(Item, ("status", "void_reason"))
_order_items: Callable[[Order, tuple[Item, ...], int], Order] = _setter(Order, ("items", "version"))
_order_status: Callable[[Order, OrderStatus, str | None, int], Order] = _setter(
    Order, ("status", "cancel_reason", "version")
)
_order_fired: Callable[[Order, tuple[Item, ...], OrderStatus, bool, int], Order] = _setter(
    Order, ("items", "status", "fired_ever", "version")
)
_order_discarded: Callable[[Order, bool, int], Order] = _setter(Order, ("discarded", "version"))


def _placed(event: OrderPlaced) -> Order:
    # as Order(order_id=…, business_day=…, order_type=…, table_number=…, guest_count=…,
    # notes=…, items=…, version=1)
    return _make_order(
        event.order_id,
        event.business_day,
        event.order_type,
        event.table_number,
        event.guest_count,
        event.notes,
        OrderStatus.OPEN,
        tuple([_new_item(spec) for spec in event.items]),
        1,
    )


# --- evolve, one function per event class -------------------------------------------------


def _placed_again(order: Order, event: OrderPlaced) -> Order:
    raise ValueError(f"order {order.order_id!r} placed twice")


def _status_changed(order: Order, event: OrderStatusChanged) -> Order:
    to = event.to_status
    cancel_reason = event.reason if to == OrderStatus.CANCELLED else order.cancel_reason
    return _order_status(order, to, cancel_reason, order.version + 1)


def _item_bumped(order: Order, event: ItemBumped) -> Order:
    items = _set_status(order, (event.item_id,), ItemStatus.READY)
    return _order_items(order, items, order.version + 1)


def _items_fired(order: Order, event: ItemsFired) -> Order:
    # Firing is what sends an order: an open, ready or served order is ``sent`` after it
    # (no separate status event; streams written with one replay the same).
    status = OrderStatus.SENT if order.status in _FIRING_RESETS else order.status
    items = _set_status(order, event.item_ids, ItemStatus.SENT)
    return _order_fired(order, items, status, True, order.version + 1)


def _item_recalled(order: Order, event: ItemRecalled) -> Order:
    items = _set_status(order, (event.item_id,), ItemStatus.SENT)
    return _order_items(order, items, order.version + 1)


def _items_held(order: Order, event: ItemsHeld) -> Order:
    return _order_items(
        order, _set_status(order, event.item_ids, ItemStatus.HELD), order.version + 1
    )


def _items_released(order: Order, event: ItemsReleased) -> Order:
    items = _set_status(order, event.item_ids, ItemStatus.NEW)
    return _order_items(order, items, order.version + 1)


def _item_voided_in(order: Order, event: ItemVoided) -> Order:
    item_id, reason, voided = event.item_id, event.reason, ItemStatus.VOIDED
    items = tuple(
        [_item_voided(i, voided, reason) if i.item_id == item_id else i for i in order.items]
    )
    return _order_items(order, items, order.version + 1)


def _items_added(order: Order, event: ItemsAdded) -> Order:
    items = order.items + tuple([_new_item(spec) for spec in event.items])
    return _order_items(order, items, order.version + 1)


def _item_removed(order: Order, event: ItemRemoved) -> Order:
    item_id = event.item_id
    items = tuple([i for i in order.items if i.item_id != item_id])
    return _order_items(order, items, order.version + 1)


def _discarded(order: Order, event: OrderDiscarded) -> Order:
    return _order_discarded(order, True, order.version + 1)


def _by_changes(order: Order, event: Event) -> Order:
    """The events that name the fields they change (checked as ``replace`` checks them)."""
    changes = _changes(order, event)
    changes["version"] = order.version + 1
    return _copy(order, changes)


_APPLY: dict[type, Callable[[Order, Any], Order]] = {
    OrderPlaced: _placed_again,
    OrderStatusChanged: _status_changed,
    ItemBumped: _item_bumped,
    ItemsFired: _items_fired,
    ItemRecalled: _item_recalled,
    ItemsHeld: _items_held,
    ItemsReleased: _items_released,
    ItemVoided: _item_voided_in,
    ItemsAdded: _items_added,
    ItemChanged: _by_changes,
    ItemRemoved: _item_removed,
    OrderDetailsChanged: _by_changes,
    OrderDiscarded: _discarded,
}
"""``evolve`` per event class (``_changes`` says the same, as a dict of changes)."""


def _changes(order: Order, event: Event) -> dict[str, Any]:
    """The fields ``event`` changes (``evolve`` sets the version)."""
    match event:
        case OrderStatusChanged(to_status=to, reason=reason):
            cancel_reason = reason if to == OrderStatus.CANCELLED else order.cancel_reason
            return {"status": to, "cancel_reason": cancel_reason}
        case ItemBumped(item_id=item_id):
            return {"items": _set_status(order, (item_id,), ItemStatus.READY)}
        case ItemsFired(item_ids=ids):
            # Firing is what sends an order: an open, ready or served order is ``sent`` after
            # it (no separate status event; streams written with one replay the same).
            status = OrderStatus.SENT if order.status in _FIRING_RESETS else order.status
            items = _set_status(order, ids, ItemStatus.SENT)
            return {"items": items, "fired_ever": True, "status": status}
        case ItemRecalled(item_id=item_id):
            return {"items": _set_status(order, (item_id,), ItemStatus.SENT)}
        case ItemsHeld(item_ids=ids):
            return {"items": _set_status(order, ids, ItemStatus.HELD)}
        case ItemsReleased(item_ids=ids):
            return {"items": _set_status(order, ids, ItemStatus.NEW)}
        case ItemVoided(item_id=item_id, reason=reason):
            changes = {item_id: {"status": ItemStatus.VOIDED, "void_reason": reason}}
            return {"items": _update_items(order, changes)}
        case ItemsAdded(items=specs):
            return {"items": order.items + tuple(_new_item(s) for s in specs)}
        case ItemChanged(item_id=item_id, changed=names):
            changes = {item_id: {name: getattr(event, name) for name in names}}
            return {"items": _update_items(order, changes)}
        case ItemRemoved(item_id=item_id):
            return {"items": tuple(i for i in order.items if i.item_id != item_id)}
        case OrderDetailsChanged(changed=names):
            return {name: getattr(event, name) for name in names}
        case OrderDiscarded():
            return {"discarded": True}
        case OrderPlaced():
            raise ValueError(f"order {order.order_id!r} placed twice")
        case _:
            assert_never(event)


def _new_item(spec: ItemSpec) -> Item:
    # as Item(item_id=…, menu_item_id=…, name=…, quantity=…, unit_price=…, modifiers=…,
    # notes=…, station=…)
    return _make_item(
        spec.item_id,
        spec.menu_item_id,
        spec.name,
        spec.quantity,
        spec.unit_price,
        spec.modifiers,
        spec.notes,
        spec.station,
    )


def _set_status(order: Order, item_ids: tuple[str, ...], status: ItemStatus) -> tuple[Item, ...]:
    set_status = _item_status
    return tuple([set_status(i, status) if i.item_id in item_ids else i for i in order.items])


def _update_items(order: Order, changes: Mapping[str, Mapping[str, object]]) -> tuple[Item, ...]:
    return tuple(
        [
            _copy(item, changes[item.item_id]) if item.item_id in changes else item
            for item in order.items
        ]
    )
