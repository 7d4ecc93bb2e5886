"""The JSON Schema -> TypeScript generator (``schema_export.typescript``) on small schemas."""

from __future__ import annotations

from typing import Any

import pytest

from interfaces.schema_export.typescript import (
    SchemaError,
    declaration,
    merge_defs,
    render_declarations,
    render_type,
    type_names,
)

NAMES = {"Item": "Item", "Page[Item]": "Page_Item_"}


def ts(schema: Any) -> str:
    return render_type(schema, NAMES)[0]


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "string"}, "string"),
        ({"type": "integer"}, "number"),
        ({"type": "number"}, "number"),
        ({"type": "boolean"}, "boolean"),
        ({"type": "null"}, "null"),
        ({}, "unknown"),
        (True, "unknown"),
        (False, "never"),
        ({"description": "no type"}, "unknown"),
        ({"$ref": "#/$defs/Item"}, "Item"),
        ({"$ref": "#/$defs/Page[Item]"}, "Page_Item_"),
    ],
)
def test_primitives_and_references(schema: Any, expected: str) -> None:
    assert ts(schema) == expected


def test_literals_become_unions() -> None:
    assert ts({"const": "ok"}) == '"ok"'
    assert ts({"const": False, "type": "boolean"}) == "false"
    assert ts({"enum": ["a", "b", 3, None]}) == '"a" | "b" | 3 | null'
    assert ts({"enum": ['say "hi"']}) == '"say \\"hi\\""'


def test_nullable_and_type_lists() -> None:
    assert ts({"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]}) == "number | null"
    assert ts({"type": ["string", "null"]}) == "string | null"
    assert ts({"oneOf": [{"$ref": "#/$defs/Item"}, {"type": "string"}]}) == "Item | string"


def test_unions_are_flat_and_deduplicated() -> None:
    assert ts({"anyOf": [{"type": "integer"}, {"type": "number"}]}) == "number"
    assert ts({"anyOf": [{"type": "string"}, {}]}) == "unknown"
    assert ts({"anyOf": [False, {"type": "string"}]}) == "string"
    nested = {"anyOf": [{"enum": ["a", "b"]}, {"type": "null"}]}
    assert ts(nested) == '"a" | "b" | null'


def test_intersections_parenthesize_unions() -> None:
    schema = {
        "allOf": [{"$ref": "#/$defs/Item"}, {"anyOf": [{"type": "string"}, {"type": "null"}]}]
    }
    assert ts(schema) == "Item & (string | null)"
    assert ts({"allOf": [{"$ref": "#/$defs/Item"}]}) == "Item"


def test_arrays_and_tuples() -> None:
    assert ts({"type": "array", "items": {"type": "string"}}) == "string[]"
    assert ts({"type": "array"}) == "unknown[]"
    union_items = {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}}
    assert ts(union_items) == "(string | number)[]"
    nested = {"type": "array", "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}}}
    assert ts(nested) == "Item[][]"
    pair = {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]}
    assert ts(pair) == "[string, number, ...unknown[]]"
    assert ts({**pair, "items": False}) == "[string, number]"


def test_maps_from_additional_properties() -> None:
    assert ts({"type": "object"}) == "Record<string, unknown>"
    assert ts({"type": "object", "additionalProperties": True}) == "Record<string, unknown>"
    typed = {
        "type": "object",
        "additionalProperties": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    }
    assert ts(typed) == "Record<string, string | null>"
    closed = {"type": "object", "properties": {}, "additionalProperties": False}
    assert ts(closed) == "Record<string, never>"


def test_object_properties_required_and_optional() -> None:
    schema = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
            "kitchen:station": {"type": "string"},
        },
        "required": ["id"],
    }
    assert ts(schema) == (
        "{\n"
        "  id: string;\n"
        "  /** @default null */\n"
        "  note?: string | null;\n"
        '  "kitchen:station"?: string;\n'
        "}"
    )


def test_open_objects_get_an_index_signature_that_fits_every_property() -> None:
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer"}},
        "required": ["n"],
        "additionalProperties": {"type": "string"},
    }
    assert ts(schema) == "{\n  n: number;\n  [key: string]: unknown;\n}"
    assert "[key: string]" not in ts({**schema, "additionalProperties": False})
    assert "[key: string]" not in ts(
        {k: v for k, v in schema.items() if k != "additionalProperties"}
    )


def test_nested_objects_are_indented() -> None:
    inner = {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}
    schema = {"type": "object", "properties": {"point": inner}, "required": ["point"]}
    assert ts(schema) == "{\n  point: {\n    x: number;\n  };\n}"


def test_declarations_with_jsdoc() -> None:
    schema = {
        "type": "object",
        "title": "Item",
        "description": "One line.\n\nClosing */ comments is escaped.",
        "properties": {
            "code": {
                "type": "string",
                "description": "A code.",
                "pattern": "^[a-z]+$",
                "maxLength": 8,
            },
            "size": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]},
            "old": {"type": "boolean", "deprecated": True},
            "at": {"type": "string", "format": "date-time"},
        },
        "required": ["code", "size", "old", "at"],
    }
    assert declaration("Item", schema, NAMES) == (
        "/**\n"
        " * One line.\n"
        " *\n"
        " * Closing *\\/ comments is escaped.\n"
        " */\n"
        "export interface Item {\n"
        "  /**\n"
        "   * A code.\n"
        "   * @maxLength 8\n"
        "   * @pattern ^[a-z]+$\n"
        "   */\n"
        "  code: string;\n"
        "  /** @minimum 1 */\n"
        "  size: number | null;\n"
        "  /** @deprecated */\n"
        "  old: boolean;\n"
        "  /** @format date-time */\n"
        "  at: string;\n"
        "}\n"
    )


def test_non_object_definitions_are_type_aliases() -> None:
    assert declaration("Status", {"enum": ["open", "sent"]}, NAMES) == (
        'export type Status = "open" | "sent";\n'
    )
    empty = {
        "type": "object",
        "properties": {},
        "additionalProperties": False,
        "description": "No fields.",
    }
    assert declaration("Empty", empty, NAMES) == (
        "/** No fields. */\nexport type Empty = Record<string, never>;\n"
    )


def test_unresolvable_or_unsupported_schemas_are_refused() -> None:
    with pytest.raises(SchemaError, match="cannot resolve"):
        ts({"$ref": "#/$defs/Missing"})
    with pytest.raises(SchemaError, match="cannot resolve"):
        ts({"$ref": "other.json#/Item"})
    with pytest.raises(SchemaError, match="unsupported type"):
        ts({"type": "decimal"})
    with pytest.raises(SchemaError, match="unsupported literal"):
        ts({"const": {"a": 1}})


def test_type_names_are_identifiers_and_unique() -> None:
    assert type_names(["Page[Item]", "3d", "default", "Item"]) == {
        "3d": "_3d",
        "Item": "Item",
        "Page[Item]": "Page_Item_",
        "default": "_default",
    }
    with pytest.raises(SchemaError, match="both become"):
        type_names(["A-B", "A.B"])


def test_definitions_merge_across_documents_only_when_equal() -> None:
    view = {"type": "object", "properties": {"id": {"type": "string"}}}
    merged = merge_defs([{"$defs": {"View": view}}, {"$defs": {"View": view, "Other": {}}}])
    assert merged == {"View": view, "Other": {}}
    with pytest.raises(SchemaError, match="defined differently"):
        merge_defs([{"$defs": {"View": view}}, {"$defs": {"View": {"type": "string"}}}])


def test_render_declarations_sorts_definitions_and_adds_event_maps() -> None:
    join = {"type": "object", "properties": {}, "additionalProperties": False}
    ack = {
        "type": "object",
        "properties": {"ok": {"const": True}},
        "required": ["ok"],
        "description": "Joined.",
    }
    event = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    document = {
        "$defs": {"Join": join, "Ack": ack, "Fail": {"const": False}, "Tick": event},
        "x-socketio": {
            "serverToClient": {"room:tick": {"$ref": "#/$defs/Tick"}},
            "clientToServer": {
                "join:room": {
                    "payload": {"$ref": "#/$defs/Join"},
                    "ack": {"anyOf": [{"$ref": "#/$defs/Ack"}, {"$ref": "#/$defs/Fail"}]},
                }
            },
        },
    }
    text = render_declarations([document], header="Generated.\n\nDo not edit.")
    assert text.startswith(
        "// Generated.\n//\n// Do not edit.\n\n/** Joined. */\nexport interface Ack"
    )
    assert text.index("interface Ack") < text.index("type Fail") < text.index("type Join")
    assert (
        'export interface ServerToClientEvents {\n  "room:tick": (payload: Tick) => void;\n}\n'
    ) in text
    assert (
        "export interface ClientToServerEvents {\n"
        '  "join:room": (\n'
        "    payload: Join,\n"
        "    ack: (response: Ack | Fail) => void,\n"
        "  ) => void;\n"
        "}\n"
    ) in text
    assert text.endswith("}\n")


def test_a_definition_may_not_shadow_the_event_maps() -> None:
    with pytest.raises(SchemaError, match="event maps"):
        render_declarations([{"$defs": {"ServerToClientEvents": {"type": "string"}}}])
