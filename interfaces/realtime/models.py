"""Socket.IO wire models: every payload a client sends, every ack and event it receives.

These pydantic models are the single source of the Socket.IO contract: the
namespace validates joins with them, the tests check deliveries against them,
and the schema export turns them into JSON Schema, TypeScript and AsyncAPI
(``CLIENT_EVENTS``, ``SERVER_EVENTS`` and ``ACKS`` list them by event name).
The broadcaster builds payloads as plain dicts on its hot path; these models
describe exactly those dicts.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

# --- shared pieces ---------------------------------------------------------------------

Position = Annotated[int, Field(ge=0, description="A global event position (0 = nothing).")]
Station = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="A kitchen station, e.g. `grill` or `bar`.",
        examples=["grill"],
    ),
]
OrderId = Annotated[
    str,
    Field(min_length=1, max_length=64, description="An order id (UUID).", examples=["0b9c…"]),
]
Room = Annotated[
    str,
    Field(
        description="A room name: `orders`, `kitchen`, `kitchen:{station}` or `order:{id}`.",
        examples=["kitchen:grill"],
    ),
]


class _Wire(BaseModel):
    """What the server sends: extra keys are allowed so that additions never break clients."""

    model_config = ConfigDict(extra="allow")


class _Request(BaseModel):
    """What a client sends: strict types, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# --- read views (the `order` field of every event, and the snapshots) ---------------------


class OrderItemView(_Wire):
    """One line of an order."""

    id: str
    menu_item_id: str
    name: str
    quantity: int = Field(ge=1)
    unit_price: int = Field(description="Integer cents.")
    modifiers: list[str]
    notes: str | None
    station: str | None = Field(description="Kitchen station the item is cooked at.")
    status: Literal["new", "held", "sent", "ready", "voided"]
    void_reason: str | None


class OrderView(_Wire):
    """An order as every read returns it (REST bodies, the Socket.IO `order` field)."""

    id: str
    number: int | None = Field(description="Ticket number: rank of the order in its business day.")
    business_day: str = Field(description="ISO date.")
    order_type: Literal["dine_in", "takeout", "delivery"]
    table_number: int | None
    guest_count: int | None
    notes: str | None
    status: Literal["open", "sent", "preparing", "ready", "served", "completed", "cancelled"]
    cancel_reason: str | None
    version: int = Field(description="Stream version of the order's last event (the ETag).")
    position: int = Field(description="Global position of the order's last event.")
    total: int = Field(description="Sum of quantity * unit_price over non-voided items, cents.")
    created_at: str
    updated_at: str
    sent_at: str | None = Field(description="When items were first fired; null until then.")
    items: list[OrderItemView]


class KitchenTicketItem(_Wire):
    """A line of a kitchen ticket (fired work only: sent, ready or voided)."""

    id: str
    name: str
    quantity: int
    modifiers: list[str]
    notes: str | None
    station: str | None
    status: Literal["sent", "ready", "voided"]


class KitchenTicket(_Wire):
    """An order on the kitchen board (status sent, preparing or ready), oldest first."""

    order_id: str
    number: int | None
    order_type: Literal["dine_in", "takeout", "delivery"]
    table_number: int | None
    status: Literal["sent", "preparing", "ready"]
    notes: str | None
    sent_at: str
    version: int
    position: int
    items: list[KitchenTicketItem]


# --- event data (the stored event's `data`, by `event_type`) ------------------------------


class ItemSpecData(_Wire):
    """An item as entered on the POS."""

    item_id: str
    menu_item_id: str
    name: str
    quantity: int
    unit_price: int
    modifiers: list[str] = []
    notes: str | None = None
    station: str | None = None


class OrderPlacedData(_Wire):
    order_id: str
    business_day: str
    order_type: Literal["dine_in", "takeout", "delivery"]
    items: list[ItemSpecData]
    table_number: int | None = None
    guest_count: int | None = None
    notes: str | None = None


class OrderDetailsChangedData(_Wire):
    """Only the fields named in `changed` changed (a field may be set to null)."""

    order_id: str
    changed: list[Literal["order_type", "table_number", "guest_count", "notes"]]
    order_type: Literal["dine_in", "takeout", "delivery"] | None = None
    table_number: int | None = None
    guest_count: int | None = None
    notes: str | None = None


class OrderDiscardedData(_Wire):
    order_id: str


class OrderStatusChangedData(_Wire):
    order_id: str
    from_status: str
    to_status: str
    reason: str | None = None


class ItemsAddedData(_Wire):
    order_id: str
    items: list[ItemSpecData]


class ItemChangedData(_Wire):
    """Only the fields named in `changed` changed."""

    order_id: str
    item_id: str
    changed: list[Literal["quantity", "modifiers", "notes"]]
    quantity: int | None = None
    modifiers: list[str] | None = None
    notes: str | None = None


class ItemIdsData(_Wire):
    """`ItemsFired`, `ItemsHeld`, `ItemsReleased`: the items concerned."""

    order_id: str
    item_ids: list[str]


class ItemIdData(_Wire):
    """`ItemBumped`, `ItemRecalled`, `ItemRemoved`: the item concerned."""

    order_id: str
    item_id: str


class ItemVoidedData(_Wire):
    order_id: str
    item_id: str
    reason: str


# --- server -> client events ------------------------------------------------------------


class RoomEvent(_Wire):
    """Common shape of every order event pushed to a room."""

    room: Room = Field(description="The room this copy was sent to (one socket, many rooms).")
    position: int = Field(ge=1, description="Global position: strictly increasing per room.")
    event_id: str = Field(description="The stored event's id (UUID).")
    event_type: str = Field(description="The stored domain event type.")
    order_id: str
    order_version: int = Field(description="The order's stream version after this event.")
    occurred_at: str = Field(description="ISO 8601 UTC time the event happened.")
    data: dict[str, Any] = Field(description="The stored event's data (see `event_type`).")
    order: OrderView | None = Field(
        description="The order view after the event; in `kitchen:{station}` rooms only that "
        "station's items are listed. Null once the order is discarded."
    )


class OrderCreatedEvent(RoomEvent):
    """`order:created`: an order was placed (`OrderPlaced`). In `kitchen` and
    `kitchen:{station}` rooms: the firing (`ItemsFired`) that puts the order's ticket on
    that board; placing an order is not a kitchen event."""

    event_type: Literal["OrderPlaced", "ItemsFired"]
    data: OrderPlacedData | ItemIdsData  # type: ignore[assignment]


class OrderUpdatedEvent(RoomEvent):
    """`order:updated`: order details (type, table, guests, notes) changed."""

    event_type: Literal["OrderDetailsChanged"]
    data: OrderDetailsChangedData  # type: ignore[assignment]


class OrderDeletedEvent(RoomEvent):
    """`order:deleted`: an open, never-fired order was discarded (`order` is null)."""

    event_type: Literal["OrderDiscarded"]
    data: OrderDiscardedData  # type: ignore[assignment]


class OrderStatusChangedEvent(RoomEvent):
    """`order:status-changed`: the order moved to another status."""

    event_type: Literal["OrderStatusChanged"]
    data: OrderStatusChangedData  # type: ignore[assignment]


class OrderItemAddedEvent(RoomEvent):
    """`order-item:added`: items were added to the order."""

    event_type: Literal["ItemsAdded"]
    data: ItemsAddedData  # type: ignore[assignment]


class OrderItemUpdatedEvent(RoomEvent):
    """`order-item:updated`: items changed, fired, held, released, bumped, recalled or voided."""

    event_type: Literal[
        "ItemChanged",
        "ItemsFired",
        "ItemsHeld",
        "ItemsReleased",
        "ItemBumped",
        "ItemRecalled",
        "ItemVoided",
    ]
    data: ItemChangedData | ItemIdsData | ItemVoidedData | ItemIdData  # type: ignore[assignment]


class OrderItemRemovedEvent(RoomEvent):
    """`order-item:removed`: a new or held item was removed."""

    event_type: Literal["ItemRemoved"]
    data: ItemIdData  # type: ignore[assignment]


class RoomPosition(_Wire):
    """`room:position`: heartbeat; the client has every event of `room` up to `position`."""

    room: Room
    position: Position


# --- client -> server joins and leaves --------------------------------------------------

Since = Annotated[
    int | None,
    Field(
        default=None,
        ge=0,
        description="Resume: deliver every room event with a position above this one "
        "(the last position the client has). Omit it to get a snapshot instead.",
    ),
]


class JoinKitchen(_Request):
    """`join:kitchen`: the whole board, or with `station` only that station's items."""

    since: Since = None
    station: Station | None = None


class LeaveKitchen(_Request):
    """`leave:kitchen`: leave `kitchen`, or `kitchen:{station}` when `station` is given."""

    station: Station | None = None


class JoinOrders(_Request):
    """`join:orders`: every order event."""

    since: Since = None


class LeaveOrders(_Request):
    """`leave:orders`: no fields."""


class JoinOrder(_Request):
    """`join:order`: one order's events."""

    order_id: OrderId
    since: Since = None


class LeaveOrder(_Request):
    """`leave:order`."""

    order_id: OrderId


# --- acks ----------------------------------------------------------------------------------

ErrorCode = Literal[
    "invalid_payload",
    "payload_too_large",
    "unknown_event",
    "since_ahead",
    "since_too_old",
    "not_ready",
    "internal_error",
]


class AckError(_Wire):
    """Why a request was refused. Codes: `invalid_payload` (wrong types, unknown or missing
    fields, negative `since`), `payload_too_large`, `unknown_event`, `since_ahead` (`since`
    is beyond the last event), `since_too_old` (replaying from `since` would rebuild more
    events than the server allows: join without `since`), `not_ready` (the service is
    starting or stopping), `internal_error`."""

    code: ErrorCode
    message: str


class ErrorAck(_Wire):
    """A refused request; the connection stays usable."""

    ok: Literal[False] = False
    error: AckError


class JoinAck(_Wire):
    """A join was accepted. Without `since` the ack carries `snapshot` and the `position`
    it reflects; events follow from the next position. With `since` there is no snapshot,
    `position` is where the server was when the join started, and every room event after
    `since` is delivered (replayed, then live)."""

    ok: Literal[True] = True
    room: Room
    position: Position


class OrdersJoinAck(JoinAck):
    """Ack of `join:orders`; the snapshot lists the live (not completed or cancelled) orders,
    newest first."""

    snapshot: list[OrderView] | None = None


class KitchenJoinAck(JoinAck):
    """Ack of `join:kitchen`; the snapshot is the board (station-filtered with `station`)."""

    snapshot: list[KitchenTicket] | None = None


class OrderJoinAck(JoinAck):
    """Ack of `join:order`; the snapshot is the order view (null: no such order yet)."""

    snapshot: OrderView | None = None


class LeaveAck(_Wire):
    """A leave was done (leaving a room one is not in is not an error)."""

    ok: Literal[True] = True
    room: Room
    position: Position


# --- catalogues for the schema export ------------------------------------------------------

SERVER_EVENTS: Final[dict[str, type[BaseModel]]] = {
    "order:created": OrderCreatedEvent,
    "order:updated": OrderUpdatedEvent,
    "order:deleted": OrderDeletedEvent,
    "order:status-changed": OrderStatusChangedEvent,
    "order-item:added": OrderItemAddedEvent,
    "order-item:updated": OrderItemUpdatedEvent,
    "order-item:removed": OrderItemRemovedEvent,
    "room:position": RoomPosition,
}
"""Server -> client event name -> payload model."""

CLIENT_EVENTS: Final[dict[str, type[BaseModel]]] = {
    "join:kitchen": JoinKitchen,
    "leave:kitchen": LeaveKitchen,
    "join:orders": JoinOrders,
    "leave:orders": LeaveOrders,
    "join:order": JoinOrder,
    "leave:order": LeaveOrder,
}
"""Client -> server event name -> payload model (a missing payload means `{}`)."""

ACKS: Final[dict[str, tuple[type[BaseModel], type[BaseModel]]]] = {
    "join:kitchen": (KitchenJoinAck, ErrorAck),
    "leave:kitchen": (LeaveAck, ErrorAck),
    "join:orders": (OrdersJoinAck, ErrorAck),
    "leave:orders": (LeaveAck, ErrorAck),
    "join:order": (OrderJoinAck, ErrorAck),
    "leave:order": (LeaveAck, ErrorAck),
}
"""Client -> server event name -> (success ack, error ack)."""
