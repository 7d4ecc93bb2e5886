"""TypeScript declarations from JSON Schema documents (the subset pydantic writes).

``render_declarations(documents)`` turns the ``$defs`` of the documents into
``export interface`` / ``export type`` declarations, and an ``x-socketio`` event map
(see ``jsonschema.realtime_schema``) into ``ServerToClientEvents`` and
``ClientToServerEvents``, the generics of socket.io-client's
``io<ServerToClientEvents, ClientToServerEvents>()``.

Mapping: ``$ref`` -> the definition's name; ``const``/``enum`` -> literal unions;
``anyOf``/``oneOf``/type lists -> unions (``null`` included); ``allOf`` -> intersection;
``integer`` -> ``number``; arrays -> ``T[]`` (``prefixItems`` -> tuples); objects ->
properties, optional (``?``) unless ``required``. ``additionalProperties``: absent or
``false`` -> closed (pydantic writes nothing for ignored extras), ``true`` or a schema ->
an index signature (``unknown`` beside declared properties, which TypeScript requires
to fit it). Descriptions, ``deprecated`` and the common constraints become JSDoc.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from interfaces.schema_export.jsonschema import SOCKETIO_KEY

Schema = Mapping[str, Any]

SERVER_EVENTS_NAME: Final = "ServerToClientEvents"
CLIENT_EVENTS_NAME: Final = "ClientToServerEvents"
INDENT: Final = "  "

_DEFS_PREFIX: Final = "#/$defs/"
_IDENTIFIER: Final = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
_NOT_IDENTIFIER: Final = re.compile(r"[^A-Za-z0-9_$]")
_RESERVED_WORDS: Final = (
    "any boolean break case catch class const continue debugger default delete do else enum "
    "export extends false finally for function if import in instanceof never new null number "
    "object return string super switch symbol this throw true try typeof undefined unknown "
    "var void while with"
)
_RESERVED: Final = frozenset(_RESERVED_WORDS.split())
_PRIMITIVES: Final = {
    "string": "string",
    "integer": "number",
    "number": "number",
    "boolean": "boolean",
    "null": "null",
}
_TAGS: Final = (
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "default",
)
"""Keywords shown as JSDoc tags (``@minimum 0``) on properties."""

# Precedence of a rendered type, to know when it needs parentheses.
_UNION, _INTERSECTION, _PRIMARY = 0, 1, 2
Rendered = tuple[str, int]


class SchemaError(ValueError):
    """A schema this generator cannot translate (or two conflicting definitions)."""


def render_declarations(documents: Iterable[Schema], *, header: str = "") -> str:
    """One ``.d.ts`` text for the ``$defs`` (and event maps) of every document."""
    documents = list(documents)
    defs = merge_defs(documents)
    names = type_names(defs)
    reserved = {SERVER_EVENTS_NAME, CLIENT_EVENTS_NAME} & set(names.values())
    if reserved:
        raise SchemaError(f"a definition is named like the event maps: {sorted(reserved)}")
    blocks = [_comment_block(header)] if header else []
    blocks += [declaration(names[name], defs[name], names) for name in sorted(defs)]
    events = [doc[SOCKETIO_KEY] for doc in documents if SOCKETIO_KEY in doc]
    blocks += [block for map_ in events for block in event_maps(map_, defs, names)]
    return "\n".join(blocks)


def merge_defs(documents: Sequence[Schema]) -> dict[str, Schema]:
    """All ``$defs``; a name defined twice must be defined the same way."""
    merged: dict[str, Schema] = {}
    for document in documents:
        for name, schema in document.get("$defs", {}).items():
            if merged.setdefault(name, schema) != schema:
                raise SchemaError(f"{name!r} is defined differently in two documents")
    return merged


def type_names(defs: Iterable[str]) -> dict[str, str]:
    """Definition name -> TypeScript identifier (``Page[X]`` -> ``Page_X_``)."""
    names: dict[str, str] = {}
    for name in sorted(defs):
        identifier = _NOT_IDENTIFIER.sub("_", name)
        if identifier[:1].isdigit() or identifier in _RESERVED:
            identifier = f"_{identifier}"
        if identifier in names.values():
            raise SchemaError(f"{name!r} and another definition both become {identifier!r}")
        names[name] = identifier
    return names


# --- declarations --------------------------------------------------------------------------


def declaration(name: str, schema: Schema, names: Mapping[str, str]) -> str:
    """``export interface`` for an object with properties, ``export type`` otherwise."""
    doc = _jsdoc(_doc_lines(schema, tags=False), "")
    if schema.get("properties"):
        return f"{doc}export interface {name} {_object_body(schema, names, '')}\n"
    text, _ = render_type(schema, names)
    return f"{doc}export type {name} = {text};\n"


def render_type(schema: Schema | bool, names: Mapping[str, str], indent: str = "") -> Rendered:
    """The TypeScript type of ``schema`` and its precedence; nested objects are indented
    from ``indent``."""
    if schema is True or schema == {}:
        return "unknown", _PRIMARY
    if schema is False:
        return "never", _PRIMARY
    assert isinstance(schema, Mapping)
    if "$ref" in schema:
        return _reference(schema["$ref"], names), _PRIMARY
    if "const" in schema:
        return _literal(schema["const"]), _PRIMARY
    if "enum" in schema:
        return _union([(_literal(value), _PRIMARY) for value in schema["enum"]])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return _union([render_type(s, names, indent) for s in schema[key]])
    if "allOf" in schema:
        return _intersection([render_type(s, names, indent) for s in schema["allOf"]])
    kind = schema.get("type")
    if isinstance(kind, list):
        return _union([render_type({**schema, "type": k}, names, indent) for k in kind])
    if kind == "array" or "items" in schema or "prefixItems" in schema:
        return _array(schema, names, indent), _PRIMARY
    if kind == "object" or "properties" in schema or "additionalProperties" in schema:
        return _object(schema, names, indent), _PRIMARY
    if kind in _PRIMITIVES:
        return _PRIMITIVES[kind], _PRIMARY
    if kind is None:
        return "unknown", _PRIMARY
    raise SchemaError(f"unsupported type {kind!r}")


def _reference(ref: str, names: Mapping[str, str]) -> str:
    if not ref.startswith(_DEFS_PREFIX) or ref[len(_DEFS_PREFIX) :] not in names:
        raise SchemaError(f"cannot resolve $ref {ref!r} (only #/$defs/<name> is supported)")
    return names[ref[len(_DEFS_PREFIX) :]]


def _literal(value: Any) -> str:
    if value is None or isinstance(value, str | bool | int | float):
        return json.dumps(value, ensure_ascii=False)
    raise SchemaError(f"unsupported literal {value!r}")


def _union(members: Sequence[Rendered]) -> Rendered:
    texts = list(dict.fromkeys(text for text, _ in members if text != "never"))
    if "unknown" in texts:
        return "unknown", _PRIMARY
    if not texts:
        return "never", _PRIMARY
    if len(texts) == 1:
        return next(m for m in members if m[0] == texts[0])
    parts = [_wrap(m, _UNION) for m in members if m[0] != "never"]
    return " | ".join(dict.fromkeys(parts)), _UNION


def _intersection(members: Sequence[Rendered]) -> Rendered:
    if len(members) == 1:
        return members[0]
    return " & ".join(_wrap(m, _INTERSECTION) for m in members), _INTERSECTION


def _wrap(rendered: Rendered, context: int) -> str:
    text, precedence = rendered
    return f"({text})" if precedence < context else text


def _array(schema: Schema, names: Mapping[str, str], indent: str) -> str:
    items = schema.get("items", True)
    if "prefixItems" in schema:
        parts = [render_type(s, names, indent)[0] for s in schema["prefixItems"]]
        if items is not False:
            parts.append(f"...{_wrap(render_type(items, names, indent), _PRIMARY)}[]")
        return f"[{', '.join(parts)}]"
    return f"{_wrap(render_type(items, names, indent), _PRIMARY)}[]"


def _object(schema: Schema, names: Mapping[str, str], indent: str) -> str:
    if schema.get("properties"):
        return _object_body(schema, names, indent)
    extra = schema.get("additionalProperties", True)
    if extra is False:
        return "Record<string, never>"
    return f"Record<string, {render_type(extra, names, indent)[0]}>"


def _object_body(schema: Schema, names: Mapping[str, str], indent: str) -> str:
    inner = indent + INDENT
    required = set(schema.get("required", ()))
    lines = ["{"]
    for key, prop in schema["properties"].items():
        optional = "" if key in required else "?"
        text, _ = render_type(prop, names, inner)
        doc = _jsdoc(_doc_lines(prop, tags=True), inner)
        lines.append(f"{doc}{inner}{_key(key)}{optional}: {text};")
    if schema.get("additionalProperties", False) is not False:
        lines.append(f"{inner}[key: string]: unknown;")
    lines.append(f"{indent}}}")
    return "\n".join(lines)


def _key(name: str) -> str:
    return name if _IDENTIFIER.match(name) else json.dumps(name, ensure_ascii=False)


# --- JSDoc ---------------------------------------------------------------------------------


def _doc_lines(schema: Schema | bool, *, tags: bool) -> list[str]:
    if not isinstance(schema, Mapping):
        return []
    source = _constraints(schema)
    lines = str(source.get("description", "")).splitlines()
    if source.get("deprecated"):
        lines.append("@deprecated")
    if tags:
        lines += [f"@{tag} {_tag_value(tag, source[tag])}" for tag in _TAGS if tag in source]
    return lines


def _tag_value(tag: str, value: Any) -> str:
    if isinstance(value, str) and tag != "default":
        return value  # a format or pattern reads better unquoted
    return json.dumps(value, ensure_ascii=False)


def _constraints(schema: Schema) -> Schema:
    """The keywords of ``schema``, or of its one non-null branch (``X | None``)."""
    branches = [s for s in schema.get("anyOf", ()) if s != {"type": "null"}]
    if len(branches) == 1 and isinstance(branches[0], Mapping):
        return {**branches[0], **schema}
    return schema


def _jsdoc(lines: Sequence[str], indent: str) -> str:
    lines = [line.rstrip().replace("*/", "*\\/") for line in lines]
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        return ""
    if len(lines) == 1:
        return f"{indent}/** {lines[0]} */\n"
    body = "".join(f"{indent} *{' ' if line else ''}{line}\n" for line in lines)
    return f"{indent}/**\n{body}{indent} */\n"


def _comment_block(text: str) -> str:
    return "".join(f"// {line}".rstrip() + "\n" for line in text.splitlines())


# --- Socket.IO event maps ------------------------------------------------------------------


def event_maps(events: Schema, defs: Mapping[str, Schema], names: Mapping[str, str]) -> list[str]:
    """``ServerToClientEvents`` (event -> listener) and ``ClientToServerEvents`` (event ->
    emitter with its ack callback), as socket.io-client's ``Socket`` generics expect."""
    server = [
        _event(name, payload, defs, f"(payload: {render_type(payload, names)[0]}) => void")
        for name, payload in events.get("serverToClient", {}).items()
    ]
    client = [
        _event(name, spec["payload"], defs, _emitter(spec, names))
        for name, spec in events.get("clientToServer", {}).items()
    ]
    return [
        _event_interface(SERVER_EVENTS_NAME, "Events the server emits (`socket.on`).", server),
        _event_interface(
            CLIENT_EVENTS_NAME,
            "Events a client emits; the server answers each with an ack "
            "(`socket.emit(name, payload, ack)` or `await socket.emitWithAck(name, payload)`).",
            client,
        ),
    ]


def _emitter(spec: Schema, names: Mapping[str, str]) -> str:
    payload = render_type(spec["payload"], names, INDENT)[0]
    ack = render_type(spec["ack"], names, INDENT)[0]
    return (
        f"(\n{INDENT * 2}payload: {payload},\n"
        f"{INDENT * 2}ack: (response: {ack}) => void,\n{INDENT}) => void"
    )


def _event(name: str, payload: Schema, defs: Mapping[str, Schema], signature: str) -> str:
    ref = payload.get("$ref", "")
    target = defs.get(ref[len(_DEFS_PREFIX) :], {}) if ref.startswith(_DEFS_PREFIX) else payload
    doc = _jsdoc(_doc_lines(target, tags=False), INDENT)
    return f"{doc}{INDENT}{_key(name)}: {signature};"


def _event_interface(name: str, description: str, members: Sequence[str]) -> str:
    body = "\n".join(members)
    return f"{_jsdoc([description], '')}export interface {name} {{\n{body}\n}}\n"
