"""The generated wire types: JSON Schema, AsyncAPI, the drift check and ``schema export``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter
from pydantic import BaseModel
from typer.testing import CliRunner

from interfaces.cli import app as cli
from interfaces.http.models import (
    CommandResponse,
    FireIn,
    ItemIn,
    OrderHistory,
    PlaceOrderIn,
    RecordedEventOut,
)
from interfaces.http.problems import Problem
from interfaces.realtime.models import (
    ACKS,
    CLIENT_EVENTS,
    SERVER_EVENTS,
    ErrorAck,
    LeaveAck,
    OrderJoinAck,
)
from interfaces.schema_export import differing, export_all, render_all
from interfaces.schema_export.asyncapi import ROOMS, asyncapi_document
from interfaces.schema_export.jsonschema import (
    models_in,
    realtime_schema,
    rest_models,
    rest_schema,
)

CHECKED_IN = Path(__file__).resolve().parents[2] / "docs" / "schemas"
FILES = ("asyncapi.json", "order-service.d.ts", "realtime.schema.json", "rest.schema.json")


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return render_all()


# --- drift -------------------------------------------------------------------------------


def test_checked_in_files_match_the_code(rendered: dict[str, str]) -> None:
    stale = [
        name
        for name, text in rendered.items()
        if not (CHECKED_IN / name).exists() or (CHECKED_IN / name).read_bytes().decode() != text
    ]
    assert not stale, f"docs/schemas is out of date ({', '.join(stale)}): run `make schema`"


def test_output_is_deterministic_json_and_text(rendered: dict[str, str]) -> None:
    assert sorted(rendered) == sorted(FILES)
    assert render_all() == rendered
    for name, text in rendered.items():
        assert text.endswith("\n") and not text.endswith("\n\n"), name
        if name.endswith(".json"):
            document = json.loads(text)
            assert json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n" == text


# --- JSON Schema -------------------------------------------------------------------------


def test_rest_models_come_from_the_routes_with_their_direction() -> None:
    router = APIRouter()

    @router.post("/a", response_model=CommandResponse, responses={409: {"model": Problem}})
    async def a(body: PlaceOrderIn) -> None: ...

    @router.post("/b", response_model=list[OrderHistory], responses={304: {}})
    async def b(body: FireIn | None = None) -> None: ...

    assert set(rest_models([router])) == {
        (PlaceOrderIn, "validation"),
        (CommandResponse, "serialization"),
        (Problem, "serialization"),
        (FireIn, "validation"),
        (OrderHistory, "serialization"),
    }


def test_models_in_annotations() -> None:
    assert models_in(FireIn | None) == [FireIn]
    assert models_in(list[dict[str, OrderHistory]]) == [OrderHistory]
    assert models_in(None) == []
    assert models_in(int) == []


def test_rest_schema_describes_bodies_as_validated_and_responses_as_sent() -> None:
    defs = rest_schema()["$defs"]
    assert {"PlaceOrderIn", "ItemIn", "CommandResponse", "OrderView", "Problem"} <= set(defs)
    assert defs["PlaceOrderIn"]["additionalProperties"] is False
    assert defs["PlaceOrderIn"]["required"] == ["order_type"]
    assert defs["RecordedEventOut"]["properties"]["recorded_at"]["format"] == "date-time"
    assert set(defs["Problem"]["required"]) == {"type", "title", "status", "code"}


def test_realtime_schema_covers_every_event_and_ack() -> None:
    document = realtime_schema()
    defs, events = document["$defs"], document["x-socketio"]
    expected = {m.__name__ for m in [*SERVER_EVENTS.values(), *CLIENT_EVENTS.values()]}
    expected |= {ack.__name__ for pair in ACKS.values() for ack in pair}
    assert expected <= set(defs)
    assert list(events["serverToClient"]) == list(SERVER_EVENTS)
    assert list(events["clientToServer"]) == list(CLIENT_EVENTS)
    join = events["clientToServer"]["join:order"]
    assert join["payload"] == {"$ref": "#/$defs/JoinOrder"}
    assert join["ack"] == {
        "anyOf": [{"$ref": "#/$defs/OrderJoinAck"}, {"$ref": "#/$defs/ErrorAck"}]
    }


def test_constant_tags_are_required_in_what_the_server_sends() -> None:
    defs = realtime_schema()["$defs"]
    assert "ok" in defs["ErrorAck"]["required"]
    assert "ok" in defs["OrderJoinAck"]["required"]
    assert "snapshot" not in defs["OrderJoinAck"]["required"]  # absent on a resume


def test_payloads_as_sent_validate_against_the_schemas() -> None:
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    rest, realtime = rest_schema(), realtime_schema()

    def validator(document: dict[str, Any], name: str) -> Any:
        assert jsonschema_rs.meta.is_valid(document), "not a valid JSON Schema document"
        return jsonschema_rs.validator_for({**document, "$ref": f"#/$defs/{name}"})

    error = ErrorAck.model_validate({"error": {"code": "since_ahead", "message": "no"}})
    assert validator(realtime, "ErrorAck").is_valid(error.model_dump())
    leave = LeaveAck(room="orders", position=3).model_dump()
    assert validator(realtime, "LeaveAck").is_valid(leave)
    resumed = {"ok": True, "room": "order:x", "position": 4}  # as the namespace sends it
    assert validator(realtime, "OrderJoinAck").is_valid(resumed)
    assert not validator(realtime, "OrderJoinAck").is_valid({**resumed, "ok": False})
    assert not validator(realtime, "JoinOrder").is_valid({"order_id": "x", "extra": 1})
    for example in PlaceOrderIn.model_json_schema()["examples"]:
        assert validator(rest, "PlaceOrderIn").is_valid(example)
    assert not validator(rest, "ItemIn").is_valid({"name": "no id"})
    assert ItemIn.__name__ in rest["$defs"] and RecordedEventOut.__name__ in rest["$defs"]


# --- AsyncAPI ----------------------------------------------------------------------------


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _resolve(document: dict[str, Any], ref: str) -> Any:
    """The node ``ref`` points at, following references to references."""
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return _resolve(document, node["$ref"]) if "$ref" in node else node


def test_asyncapi_every_reference_resolves() -> None:
    document = asyncapi_document("1.2.3")
    refs = _refs(document)
    assert refs
    for ref in refs:
        _resolve(document, ref)
    assert not any(ref.startswith("#/$defs/") for ref in refs)


def test_asyncapi_rooms_events_and_acks() -> None:
    document = asyncapi_document("1.2.3")
    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["version"] == "1.2.3"
    assert document["servers"]["local"]["pathname"] == "/socket.io/"
    channels = document["channels"]
    assert {c["address"] for c in channels.values()} == {
        "orders",
        "kitchen",
        "kitchen:{station}",
        "order:{orderId}",
    }
    assert set(channels["order"]["parameters"]) == {"orderId"}
    operations = document["operations"].values()
    received = {
        (op["channel"]["$ref"], _resolve(document, op["messages"][0]["$ref"])["name"])
        for op in operations
        if op["action"] == "receive"
    }
    assert received == {(f"#/channels/{r.id}", name) for r in ROOMS for name in SERVER_EVENTS}
    sent = {
        _resolve(document, op["messages"][0]["$ref"])["name"]: op
        for op in operations
        if op["action"] == "send"
    }
    assert set(sent) == set(CLIENT_EVENTS)
    for name, op in sent.items():
        replies = [_resolve(document, m["$ref"])["name"] for m in op["reply"]["messages"]]
        assert replies == [ack.__name__ for ack in ACKS[name]]


def test_asyncapi_operation_messages_belong_to_their_channel() -> None:
    document = asyncapi_document("1.2.3")
    for op in document["operations"].values():
        channel = op["channel"]["$ref"]
        for message in op["messages"] + op.get("reply", {}).get("messages", []):
            assert message["$ref"].startswith(f"{channel}/messages/")


def test_asyncapi_payloads_are_the_realtime_schemas() -> None:
    document = asyncapi_document("1.2.3")
    messages = document["components"]["messages"]
    assert messages["orderItemUpdated"]["name"] == "order-item:updated"
    assert messages["orderItemUpdated"]["payload"] == {
        "$ref": "#/components/schemas/OrderItemUpdatedEvent"
    }
    assert messages["OrderJoinAck"]["summary"].startswith("Ack of `join:order`")
    assert set(document["components"]["schemas"]) == set(realtime_schema()["$defs"])


# --- export and the CLI ------------------------------------------------------------------


def test_export_writes_only_what_changed(tmp_path: Path, rendered: dict[str, str]) -> None:
    assert sorted(p.name for p in export_all(tmp_path)) == sorted(FILES)
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == rendered
    assert export_all(tmp_path) == []
    (tmp_path / "rest.schema.json").write_text("{}\n")
    assert export_all(tmp_path) == [tmp_path / "rest.schema.json"]


def test_cli_check_lists_the_files_that_differ(tmp_path: Path) -> None:
    runner = CliRunner()
    out = str(tmp_path / "schemas")

    missing = runner.invoke(cli, ["schema", "export", "--out", out, "--check"])
    assert missing.exit_code == 1
    assert all(name in missing.output for name in FILES)

    written = runner.invoke(cli, ["schema", "export", "--out", out])
    assert written.exit_code == 0, written.output
    assert runner.invoke(cli, ["schema", "export", "--out", out, "--check"]).exit_code == 0

    (tmp_path / "schemas" / "asyncapi.json").write_text("{}\n")
    drifted = runner.invoke(cli, ["schema", "export", "--out", out, "--check"])
    assert drifted.exit_code == 1
    assert "asyncapi.json" in drifted.output and "rest.schema.json" not in drifted.output
    assert differing(tmp_path / "schemas") == [tmp_path / "schemas" / "asyncapi.json"]


def test_served_models_are_pydantic_models() -> None:
    # The catalogues the export reads must stay models (a dict payload would vanish).
    for model in [*SERVER_EVENTS.values(), *CLIENT_EVENTS.values(), OrderJoinAck]:
        assert issubclass(model, BaseModel)
