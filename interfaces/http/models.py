"""Wire models of the REST API: request bodies (strict, bounded) and response shapes.

Requests forbid unknown fields and bound every string, number and list, so nothing
reaches the domain unvalidated. Responses mirror the read-model views
(``docs/architecture.md``); the order and ticket views are the Socket.IO ones
(``interfaces.realtime.models``), so both transports describe one shape.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from domain.ports import RecordedEvent
from interfaces.realtime.models import KitchenTicket, OrderView, Station

# -- shared field types -------------------------------------------------------------------

MAX_ID: Final = 64
MAX_ITEMS: Final = 100
MAX_POSITION: Final = 2**62


def _utf8(value: str) -> str:
    # JSON may carry lone surrogates; they cannot be stored or echoed as UTF-8.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    return value


Id = Annotated[str, Field(min_length=1, max_length=MAX_ID), AfterValidator(_utf8)]
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_utf8)]
Notes = Annotated[str, Field(max_length=1000), AfterValidator(_utf8)]
Reason = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_utf8)]
Modifier = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_utf8)]
Quantity = Annotated[int, Field(ge=1, le=999)]
UnitPrice = Annotated[int, Field(ge=0, le=100_000_000, description="Integer cents.")]
TableNumber = Annotated[int, Field(ge=1, le=9999)]
GuestCount = Annotated[int, Field(ge=1, le=999)]
Position = Annotated[int, Field(ge=0, description="Global event position.")]

OrderTypeName = Literal["dine_in", "takeout", "delivery"]
OrderStatusName = Literal["open", "sent", "preparing", "ready", "served", "completed", "cancelled"]
TargetStatus = Literal["preparing", "ready", "served", "completed", "cancelled"]


class Body(BaseModel):
    """A request body: strict types, no unknown fields."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Changes(Body):
    """A partial update: only the fields present change; at least one must be."""

    @model_validator(mode="after")
    def _something(self) -> Changes:
        if not self.model_fields_set:
            raise ValueError("give at least one field to change")
        return self


def _not_null(value: Any, field: str) -> Any:
    if value is None:
        raise ValueError(f"{field} cannot be null; omit it to leave it unchanged")
    return value


# -- requests -----------------------------------------------------------------------------


class ItemIn(Body):
    menu_item_id: Id
    name: Name
    quantity: Quantity
    unit_price: UnitPrice
    # A default factory, not ``= []``: pydantic deep-copies a mutable default on every
    # validation (~1.3 us per item); the schema still shows the default.
    modifiers: Annotated[
        list[Modifier],
        Field(max_length=20, default_factory=list, json_schema_extra={"default": []}),
    ]
    notes: Notes | None = None
    station: Station | None = Field(default=None, description="Kitchen station, e.g. grill.")


_ITEM_EXAMPLE: Final[dict[str, Any]] = {
    "menu_item_id": "m-3",
    "name": "Burger",
    "quantity": 2,
    "unit_price": 575,
    "modifiers": ["no onion"],
    "station": "grill",
}


class PlaceOrderIn(Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "order_type": "dine_in",
                    "table_number": 7,
                    "guest_count": 2,
                    "items": [_ITEM_EXAMPLE],
                    "notes": "window seat",
                }
            ]
        }
    )

    order_type: OrderTypeName
    table_number: TableNumber | None = Field(default=None, description="Required for dine_in.")
    guest_count: GuestCount | None = None
    notes: Notes | None = None
    items: Annotated[
        list[ItemIn],
        Field(max_length=MAX_ITEMS, default_factory=list, json_schema_extra={"default": []}),
    ]
    fire: bool = Field(default=True, description="Send the items to the kitchen at once.")


class ChangeDetailsIn(Changes):
    """Only the fields present change; ``null`` clears table_number, guest_count or notes."""

    model_config = ConfigDict(
        json_schema_extra={"minProperties": 1, "examples": [{"table_number": 12, "guest_count": 4}]}
    )

    order_type: OrderTypeName | SkipJsonSchema[None] = None
    table_number: TableNumber | None = None
    guest_count: GuestCount | None = None
    notes: Notes | None = None

    @field_validator("order_type")
    @classmethod
    def _order_type_not_null(cls, value: Any) -> Any:
        return _not_null(value, "order_type")


class AddItemsIn(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_ITEM_EXAMPLE]}]})

    items: Annotated[list[ItemIn], Field(min_length=1, max_length=MAX_ITEMS)]
    fire: bool = Field(default=False, description="Send the new items to the kitchen at once.")


class ChangeItemIn(Changes):
    """Only the fields present change; ``null`` clears notes."""

    model_config = ConfigDict(
        json_schema_extra={"minProperties": 1, "examples": [{"quantity": 3, "notes": "extra hot"}]}
    )

    quantity: Quantity | SkipJsonSchema[None] = None
    modifiers: Annotated[list[Modifier], Field(max_length=20)] | SkipJsonSchema[None] = None
    notes: Notes | None = None

    @field_validator("quantity", "modifiers")
    @classmethod
    def _no_null(cls, value: Any) -> Any:
        return _not_null(value, "quantity and modifiers")


ItemIds = Annotated[list[Id], Field(min_length=1, max_length=MAX_ITEMS)]


class FireIn(Body):
    """Fire the listed items, or (without ``item_ids``) every new item."""

    model_config = ConfigDict(json_schema_extra={"examples": [{}, {"item_ids": ["<item id>"]}]})

    item_ids: ItemIds | None = None


class HoldIn(Body):
    """Hold the listed new items (all new items without ``item_ids``); ``release`` undoes it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"release": False}]})

    item_ids: ItemIds | None = None
    release: bool = False


class VoidIn(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "guest changed mind"}]})

    reason: Reason


class ChangeStatusIn(Body):
    """``cancelled`` needs a ``reason``."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"status": "served"}, {"status": "cancelled", "reason": "walked out"}]
        }
    )

    status: TargetStatus
    reason: Reason | None = None


# -- responses ----------------------------------------------------------------------------


_ORDER_EXAMPLE: Final[dict[str, Any]] = {
    "id": "a43575dd-47f0-4f2f-a457-9fae44e4ea49",
    "number": 1,
    "business_day": "2026-11-25",
    "order_type": "dine_in",
    "table_number": 7,
    "guest_count": 2,
    "notes": "window seat",
    "status": "sent",
    "cancel_reason": None,
    "version": 2,
    "position": 2,
    "total": 1150,
    "created_at": "2026-11-26T00:19:21.222080+00:00",
    "updated_at": "2026-11-26T00:19:21.222080+00:00",
    "sent_at": "2026-11-26T00:19:21.222080+00:00",
    "items": [
        {
            "id": "2c8dfd29-181b-49f6-b6a6-f31d8f5e7914",
            **_ITEM_EXAMPLE,
            "notes": None,
            "status": "sent",
            "void_reason": None,
        }
    ],
}


class CommandResponse(BaseModel):
    """A command's outcome: the order after it and the position of its last event.

    ``stale`` is true when the read models did not reach ``position`` within the
    read-your-writes timeout; ``order`` is then rendered from the domain state.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": _ORDER_EXAMPLE["id"],
                    "order": _ORDER_EXAMPLE,
                    "position": 2,
                    "stale": False,
                }
            ]
        }
    )

    id: str = Field(description="The order id (also ``order.id``).")
    order: OrderView
    position: Position
    stale: bool


class DiscardResponse(BaseModel):
    """A discarded order is gone from the read models; its events stay in the log."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"id": _ORDER_EXAMPLE["id"], "position": 14, "stale": False}]
        }
    )

    id: str
    position: Position
    stale: bool


class OrderPage(BaseModel):
    """A page of orders, newest first; pass ``next_cursor`` as ``cursor`` for the next."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_ORDER_EXAMPLE], "next_cursor": "eyJwIjo4fQ"}]}
    )

    items: list[OrderView]
    next_cursor: str | None


class RecordedEventOut(BaseModel):
    position: int
    stream_id: str = Field(description="The order id.")
    stream_version: int
    event_id: str
    type: str
    schema_version: int
    data: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: datetime


def event_json(event: RecordedEvent) -> dict[str, Any]:
    """A stored event as ``RecordedEventOut`` (``recorded_at`` stays a datetime for orjson)."""
    return {
        "position": event.position,
        "stream_id": event.stream_id,
        "stream_version": event.stream_version,
        "event_id": event.event_id,
        "type": event.type,
        "schema_version": event.schema_version,
        "data": event.data,
        "metadata": event.metadata,
        "recorded_at": event.recorded_at,
    }


class OrderHistory(BaseModel):
    order_id: str
    events: list[RecordedEventOut]


class EventFeed(BaseModel):
    """Events after ``after`` in position order; ask again with ``after=next_after``."""

    events: list[RecordedEventOut]
    next_after: Position
    head: Position = Field(description="The highest committed position.")


class KitchenBoard(BaseModel):
    """Orders on the kitchen board, oldest sent first."""

    tickets: list[KitchenTicket]
    position: Position = Field(description="The event position the board reflects.")


class Liveness(BaseModel):
    status: Literal["ok"]


class ProjectorState(BaseModel):
    running: bool
    position: int = Field(description="The last position the read models reflect.")
    head: int = Field(description="The event store's highest position.")
    lag: int = Field(description="Events not yet projected.")


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    database: bool
    projector: ProjectorState | None
    detail: str | None = None


class GcInfo(BaseModel):
    thresholds: list[int] = Field(description="The cyclic collector's generation thresholds.")
    frozen: int = Field(description="Objects in the permanent generation (never walked).")


class RuntimeInfo(BaseModel):
    impl: str
    python: str
    loop: str
    http_protocol: str
    ws_protocol: str
    pid: int
    gc: GcInfo
    versions: dict[str, str | None]
