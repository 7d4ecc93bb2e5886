"""The AsyncAPI 3.0 document of the Socket.IO API, built from the realtime catalogues.

Channels are the rooms (addresses from ``interfaces.realtime.rooms``); every room may
receive every server event of ``SERVER_EVENTS``, and each join/leave of
``CLIENT_EVENTS`` is a ``send`` operation on its room whose reply lists the acks of
``ACKS``. Payload schemas are the realtime JSON Schema definitions under
``components.schemas``. The document is also served at ``GET /asyncapi.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Final

from interfaces.realtime.models import ACKS, CLIENT_EVENTS, SERVER_EVENTS
from interfaces.realtime.rooms import KITCHEN, ORDERS, kitchen_room, order_room
from interfaces.realtime.server import SOCKETIO_PATH
from interfaces.schema_export.jsonschema import RECEIVED, SENT, dump, realtime_definitions

VERSION: Final = "3.0.0"
SCHEMAS_REF: Final = "#/components/schemas/{model}"
CONTENT_TYPE: Final = "application/json"
DEFAULT_HOST: Final = "localhost:8000"


@dataclass(frozen=True, slots=True)
class Room:
    """A channel: a room, and the client events that join and leave it."""

    id: str
    address: str
    description: str
    client_events: tuple[str, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)


ROOMS: Final = (
    Room(
        "orders",
        ORDERS,
        "Every order event (staff screens, POS).",
        ("join:orders", "leave:orders"),
    ),
    Room(
        "kitchen",
        KITCHEN,
        "The kitchen board: orders once fired, until they leave the board. "
        "`join:kitchen` with a `station` joins `kitchen:{station}` instead.",
        ("join:kitchen", "leave:kitchen"),
    ),
    Room(
        "kitchenStation",
        kitchen_room("{station}"),
        "One station's board: the kitchen events that concern its items, with `order.items` "
        "cut down to that station. Joined and left with `join:kitchen` / `leave:kitchen` "
        "and a `station`.",
        parameters={"station": {"description": "A kitchen station, e.g. `grill` or `bar`."}},
    ),
    Room(
        "order",
        order_room("{orderId}"),
        "One order's events.",
        ("join:order", "leave:order"),
        parameters={"orderId": {"description": "The order id (UUID)."}},
    ),
)

DESCRIPTION: Final = """\
Real-time order events for POS, staff and kitchen screens, over Socket.IO (v4) on the \
REST API's port.

Join a room by emitting a `join:*` event; the ack is `{ok: true, room, position, \
snapshot?}` or `{ok: false, error: {code, message}}`. Without `since` the ack carries a \
snapshot of the room and the position it reflects; with `since: N` every room event after \
position N is delivered (replayed, then live), in order, without gaps or duplicates. \
Every event carries its global `position`; `room:position` heartbeats say how far a room \
has been delivered. The payload schemas are also in `realtime.schema.json` and \
`order-service.d.ts`."""


def asyncapi_document(version: str | None = None) -> dict[str, Any]:
    _check_rooms()
    found = realtime_definitions(SCHEMAS_REF)
    messages = {
        **{_message_id(n): _message(n, found.ref(m, SENT)) for n, m in SERVER_EVENTS.items()},
        **{_message_id(n): _message(n, found.ref(m, RECEIVED)) for n, m in CLIENT_EVENTS.items()},
        **{a.__name__: _message(a.__name__, found.ref(a, SENT)) for a in _acks()},
    }
    for message in messages.values():
        message.update(_summary(found.defs[message["payload"]["$ref"].rsplit("/", 1)[1]]))
    return {
        "asyncapi": VERSION,
        "info": {
            "title": "order-service Socket.IO API",
            "version": version or _package_version(),
            "description": DESCRIPTION,
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "local": {
                "host": DEFAULT_HOST,
                "protocol": "ws",
                "pathname": f"/{SOCKETIO_PATH}/",
                "description": "Socket.IO v4 (Engine.IO 4: WebSocket, long-polling fallback) "
                "as `make run` serves it.",
            }
        },
        "channels": {room.id: _channel(room) for room in ROOMS},
        "operations": _operations(),
        "components": {"schemas": found.defs, "messages": messages},
    }


def render_asyncapi(version: str | None = None) -> str:
    return dump(asyncapi_document(version))


def _check_rooms() -> None:
    """Every client event belongs to exactly one room (else the document would miss it)."""
    assigned = [name for room in ROOMS for name in room.client_events]
    if sorted(assigned) != sorted(CLIENT_EVENTS):
        raise ValueError(
            f"asyncapi.ROOMS names client events {sorted(assigned)}, "
            f"CLIENT_EVENTS has {sorted(CLIENT_EVENTS)}: assign each to one room"
        )


def _acks() -> list[Any]:
    return list(dict.fromkeys(ack for name in CLIENT_EVENTS for ack in ACKS[name]))


def _message_id(event: str) -> str:
    """``order-item:updated`` -> ``orderItemUpdated`` (component keys allow no colon)."""
    words = event.replace(":", "-").split("-")
    return words[0] + "".join(word.capitalize() for word in words[1:])


def _message(name: str, payload: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "contentType": CONTENT_TYPE, "payload": payload}


def _summary(schema: dict[str, Any]) -> dict[str, str]:
    description = str(schema.get("description", "")).strip()
    if not description:
        return {}
    return {"summary": description.split("\n\n")[0].replace("\n", " ")}


def _channel(room: Room) -> dict[str, Any]:
    ids = [_message_id(name) for name in SERVER_EVENTS]
    ids += [_message_id(name) for name in room.client_events]
    ids += [a.__name__ for a in dict.fromkeys(a for n in room.client_events for a in ACKS[n])]
    channel: dict[str, Any] = {
        "address": room.address,
        "description": room.description,
        "messages": {i: {"$ref": f"#/components/messages/{i}"} for i in ids},
    }
    if room.parameters:
        channel["parameters"] = room.parameters
    return channel


def _operations() -> dict[str, Any]:
    operations: dict[str, Any] = {}
    for room in ROOMS:
        channel = f"#/channels/{room.id}"
        for name in SERVER_EVENTS:
            operations[f"receive{_pascal(name)}In{_pascal(room.id)}"] = {
                "action": "receive",
                "channel": {"$ref": channel},
                "summary": f"`{name}` in `{room.address}`.",
                "messages": [{"$ref": f"{channel}/messages/{_message_id(name)}"}],
            }
        for name in room.client_events:
            operations[_message_id(name)] = {
                "action": "send",
                "channel": {"$ref": channel},
                "summary": f"Emit `{name}`; the server answers with an ack.",
                "messages": [{"$ref": f"{channel}/messages/{_message_id(name)}"}],
                "reply": {
                    "channel": {"$ref": channel},
                    "messages": [
                        {"$ref": f"{channel}/messages/{ack.__name__}"} for ack in ACKS[name]
                    ],
                },
            }
    return operations


def _pascal(name: str) -> str:
    identifier = _message_id(name)
    return identifier[:1].upper() + identifier[1:]


def _package_version() -> str:
    try:
        return metadata.version("order-service")
    except metadata.PackageNotFoundError:
        return "0.0.0"
