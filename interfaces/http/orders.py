"""``/api/orders``: the order commands and the order queries.

Routes only translate: wire model -> domain command (ids and business day from the
``OrderService``), then ``CommandRunner.run``; every rule lives in the domain.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import Response
from pydantic import AfterValidator

from domain.commands import (
    AddItems,
    BumpItem,
    ChangeItem,
    ChangeOrderDetails,
    ChangeStatus,
    DiscardOrder,
    FireItems,
    HoldItems,
    PlaceOrder,
    RecallItem,
    RemoveItem,
    VoidItem,
)
from domain.errors import OrderNotFound
from domain.events import ItemSpec
from domain.handlers import OrderService
from domain.model import OrderStatus, OrderType
from infrastructure.read_models import MAX_LIST_LIMIT, InvalidCursor
from interfaces.http.commands import CommandRunner, etag, json_response
from interfaces.http.deps import (
    ItemId,
    NewOrderCommand,
    OrderCommand,
    OrderId,
    ReadModelsDep,
    ServicesDep,
    etag_matches,
)
from interfaces.http.models import (
    AddItemsIn,
    ChangeDetailsIn,
    ChangeItemIn,
    ChangeStatusIn,
    CommandResponse,
    DiscardResponse,
    FireIn,
    HoldIn,
    ItemIn,
    OrderHistory,
    OrderPage,
    OrderStatusName,
    OrderTypeName,
    PlaceOrderIn,
    TableNumber,
    VoidIn,
    event_json,
)
from interfaces.http.problems import ApiProblem, problem_responses
from interfaces.realtime.models import OrderView

router = APIRouter(prefix="/api/orders", tags=["orders"])

_COMMAND = problem_responses(404, 409, 412, 422)


def _as_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except OverflowError:
        raise ValueError("the instant is out of range") from None


Since = Annotated[datetime, AfterValidator(_as_utc)]


# --- queries -------------------------------------------------------------------------------


@router.get("", response_model=OrderPage, responses=problem_responses(422))
async def list_orders(
    read_models: ReadModelsDep,
    status: Annotated[
        list[OrderStatusName] | None, Query(max_length=7, description="Any of (repeatable).")
    ] = None,
    order_type: OrderTypeName | None = None,
    table_number: TableNumber | None = None,
    since: Annotated[Since | None, Query(description="Created at or after (ISO 8601).")] = None,
    cursor: Annotated[str | None, Query(max_length=200, description="`next_cursor`.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST_LIMIT)] = 50,
) -> Response:
    """Orders, newest first, filtered; follow ``next_cursor`` for the next page."""
    try:
        items, next_cursor = await read_models.list_orders(
            status=status,
            order_type=order_type,
            table_number=table_number,
            since=since,
            cursor=cursor,
            limit=limit,
        )
    except InvalidCursor as exc:
        raise ApiProblem(422, "invalid_cursor", str(exc)) from None
    return json_response({"items": items, "next_cursor": next_cursor})


@router.get(
    "/{order_id}",
    response_model=OrderView,
    responses={304: {"description": "Not Modified (If-None-Match)"}, **problem_responses(404, 422)},
)
async def get_order(
    order_id: OrderId,
    read_models: ReadModelsDep,
    if_none_match: Annotated[str | None, Header(max_length=1000)] = None,
) -> Response:
    """The order view; ``ETag`` is its version, ``If-None-Match`` answers 304."""
    view = await read_models.get_order(order_id)
    if view is None:
        raise OrderNotFound(order_id)
    tag = etag(view["version"])
    if etag_matches(if_none_match, view["version"]):
        return Response(status_code=304, headers={"ETag": tag})
    return json_response(view, headers={"ETag": tag})


@router.get(
    "/{order_id}/events", response_model=OrderHistory, responses=problem_responses(404, 422)
)
async def order_events(order_id: OrderId, services: ServicesDep) -> Response:
    """The order's history: every stored event of its stream, oldest first."""
    recorded = await services.store.read_stream(order_id)
    if not recorded:
        raise OrderNotFound(order_id)
    return json_response({"order_id": order_id, "events": [event_json(e) for e in recorded]})


# --- commands on the order -----------------------------------------------------------------


@router.post(
    "", status_code=201, response_model=CommandResponse, responses=problem_responses(409, 422)
)
async def place_order(body: PlaceOrderIn, command: NewOrderCommand) -> Response:
    """Place an order; with ``fire`` (the default) its items go to the kitchen at once."""
    return await command.run(placing(command, body), body, status_code=201)


def placing(command: CommandRunner, body: PlaceOrderIn) -> PlaceOrder:
    """The ``PlaceOrder`` of a request (also the command lane's)."""
    return PlaceOrder(
        order_id=command.orders.new_order_id(),
        business_day=command.business_day(),
        order_type=OrderType(body.order_type),
        items=_specs(command.orders, body.items),
        table_number=body.table_number,
        guest_count=body.guest_count,
        notes=body.notes,
        fire=body.fire,
    )


@router.patch("/{order_id}", response_model=CommandResponse, responses=_COMMAND)
async def change_details(
    order_id: OrderId, body: ChangeDetailsIn, command: OrderCommand
) -> Response:
    """Change the fields present (type, table, guests, notes); ``null`` clears one."""
    changed = tuple(sorted(body.model_fields_set))
    order_type = OrderType(body.order_type) if body.order_type is not None else None
    details = ChangeOrderDetails(
        order_id,
        changed,
        order_type=order_type,
        table_number=body.table_number,
        guest_count=body.guest_count,
        notes=body.notes,
    )
    return await command.run(details, body)


@router.delete("/{order_id}", response_model=DiscardResponse, responses=_COMMAND)
async def discard_order(order_id: OrderId, command: OrderCommand) -> Response:
    """Discard an open order that was never fired (cancel it otherwise)."""
    return await command.run(DiscardOrder(order_id))


@router.patch("/{order_id}/status", response_model=CommandResponse, responses=_COMMAND)
async def change_status(order_id: OrderId, body: ChangeStatusIn, command: OrderCommand) -> Response:
    """Move the order to preparing, ready, served, completed or cancelled (with a reason)."""
    return await command.run(status_change(order_id, body), body)


def status_change(order_id: str, body: ChangeStatusIn) -> ChangeStatus:
    """The ``ChangeStatus`` of a request (also the command lane's)."""
    return ChangeStatus(order_id, OrderStatus(body.status), body.reason)


@router.post("/{order_id}/fire", response_model=CommandResponse, responses=_COMMAND)
async def fire(order_id: OrderId, command: OrderCommand, body: FireIn | None = None) -> Response:
    """Send the listed items to the kitchen, or every new item without a list."""
    item_ids = _ids(body.item_ids if body else None)
    return await command.run(FireItems(order_id, item_ids), body)


@router.post("/{order_id}/hold", response_model=CommandResponse, responses=_COMMAND)
async def hold(order_id: OrderId, command: OrderCommand, body: HoldIn | None = None) -> Response:
    """Hold new items (the listed ones, or all); ``release: true`` lets them go again."""
    hold_in = body or HoldIn()
    held = HoldItems(order_id, _ids(hold_in.item_ids), release=hold_in.release)
    return await command.run(held, body)


# --- commands on items ---------------------------------------------------------------------


@router.post("/{order_id}/items", response_model=CommandResponse, responses=_COMMAND)
async def add_items(order_id: OrderId, body: AddItemsIn, command: OrderCommand) -> Response:
    """Add items (new, or fired at once with ``fire: true``)."""
    return await command.run(adding(command, order_id, body), body)


def adding(command: CommandRunner, order_id: str, body: AddItemsIn) -> AddItems:
    """The ``AddItems`` of a request (also the command lane's)."""
    return AddItems(order_id, _specs(command.orders, body.items), fire=body.fire)


@router.patch("/{order_id}/items/{item_id}", response_model=CommandResponse, responses=_COMMAND)
async def change_item(
    order_id: OrderId, item_id: ItemId, body: ChangeItemIn, command: OrderCommand
) -> Response:
    """Change a new or held item (quantity, modifiers, notes); sent items are voided instead."""
    changed = tuple(sorted(body.model_fields_set))
    modifiers = tuple(body.modifiers) if body.modifiers is not None else None
    item = ChangeItem(
        order_id, item_id, changed, quantity=body.quantity, modifiers=modifiers, notes=body.notes
    )
    return await command.run(item, body)


@router.delete("/{order_id}/items/{item_id}", response_model=CommandResponse, responses=_COMMAND)
async def remove_item(order_id: OrderId, item_id: ItemId, command: OrderCommand) -> Response:
    """Remove a new or held item; a sent item must be voided (409)."""
    return await command.run(RemoveItem(order_id, item_id))


@router.post("/{order_id}/items/{item_id}/bump", response_model=CommandResponse, responses=_COMMAND)
async def bump_item(order_id: OrderId, item_id: ItemId, command: OrderCommand) -> Response:
    """The kitchen finished the item; the order is ready once every sent item is."""
    return await command.run(BumpItem(order_id, item_id))


@router.post(
    "/{order_id}/items/{item_id}/recall", response_model=CommandResponse, responses=_COMMAND
)
async def recall_item(order_id: OrderId, item_id: ItemId, command: OrderCommand) -> Response:
    """Take a bumped item back to the kitchen (a ready order goes back to preparing)."""
    return await command.run(RecallItem(order_id, item_id))


@router.post("/{order_id}/items/{item_id}/void", response_model=CommandResponse, responses=_COMMAND)
async def void_item(
    order_id: OrderId, item_id: ItemId, body: VoidIn, command: OrderCommand
) -> Response:
    """Void a sent or ready item, with a reason."""
    return await command.run(VoidItem(order_id, item_id, body.reason), body)


def _specs(orders: OrderService, items: list[ItemIn]) -> tuple[ItemSpec, ...]:
    return tuple(
        ItemSpec(
            item_id=orders.new_item_id(),
            menu_item_id=item.menu_item_id,
            name=item.name,
            quantity=item.quantity,
            unit_price=item.unit_price,
            modifiers=tuple(item.modifiers),
            notes=item.notes,
            station=item.station,
        )
        for item in items
    )


def _ids(item_ids: list[str] | None) -> tuple[str, ...] | None:
    return tuple(item_ids) if item_ids is not None else None
