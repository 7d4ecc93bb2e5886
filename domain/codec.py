"""Events <-> raw ``(type name, schema version, data)`` as the event store keeps them.

Owns: the current schema version of every event type (``CURRENT_VERSIONS``),
the JSON shape of each event (field names as in the dataclass; enums as their
values; tuples as lists; ``ItemSpec`` as a nested object), and the registry of
upcasters that turn data stored under an old schema version into the current
shape before it is decoded.

The per-class encoders and decoders are built once from the dataclass fields
(no ``dataclasses.asdict``: it deep-copies every value and was several times
slower in the replay benchmark this module is on the path of). Decoding runs a
function compiled per class (``_compile_decoder``: one line per field, enums by a
dict lookup, no per-field dispatch); anything it does not expect (a value of
another shape, a missing field, an unknown enum value) is decoded again by the
generic field loop, so results and errors are the generic decoder's.
``decoder(type_name, schema_version)`` gives the whole of ``decode`` for one
stored type and version as a function of the data (what a replay calls per row).

To change an event's shape: bump its entry in ``CURRENT_VERSIONS`` and register
in ``default_upcasters`` a function from the old data to the new, e.g.::

    @upcasters.register("ItemVoided", from_version=1)
    def _item_voided_v1_v2(data: JSON) -> JSON:
        return {**data, "reason": data.get("reason") or "unknown"}
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import types
import typing
from collections.abc import Callable
from typing import Any, Final

from domain.events import EVENT_NAMES, EVENT_TYPES, Event
from domain.ports import JSON, NewEvent, RecordedEvent, Upcaster

__all__ = [
    "CURRENT_VERSIONS",
    "CodecError",
    "Decoder",
    "UnknownEventType",
    "UnsupportedSchemaVersion",
    "Upcasters",
    "decode",
    "decode_recorded",
    "decoder",
    "default_upcasters",
    "encode",
    "to_new_event",
]

CURRENT_VERSIONS: Final[dict[str, int]] = dict.fromkeys(EVENT_TYPES, 1)
"""Stored type name -> the schema version ``encode`` writes and ``decode`` reads."""


class CodecError(ValueError):
    """Stored data that cannot be turned into an event."""


class UnknownEventType(CodecError):
    def __init__(self, type_name: str) -> None:
        super().__init__(f"unknown event type {type_name!r}; known: {', '.join(EVENT_TYPES)}")
        self.type_name = type_name


class UnsupportedSchemaVersion(CodecError):
    def __init__(self, type_name: str, version: int, current: int) -> None:
        why = "written by newer code" if version > current else "no upcaster brings it further"
        super().__init__(
            f"{type_name} schema version {version} cannot be read as version {current}: {why}"
        )
        self.type_name = type_name
        self.version = version


# --- upcasters ----------------------------------------------------------------------

UpcastStep = Callable[[JSON], JSON]
"""Data of schema version N -> data of version N + 1 (must not mutate its argument)."""


class Upcasters:
    """Upcasters per (type name, from version); calling it applies v1->v2->... in turn.

    Satisfies ``domain.ports.Upcaster``.
    """

    def __init__(self) -> None:
        self._steps: dict[tuple[str, int], UpcastStep] = {}

    def register(self, type_name: str, from_version: int) -> Callable[[UpcastStep], UpcastStep]:
        """Decorator: ``step`` turns ``type_name`` data of ``from_version`` into the next one."""

        def add(step: UpcastStep) -> UpcastStep:
            key = (type_name, from_version)
            if key in self._steps:
                raise ValueError(f"an upcaster for {type_name} v{from_version} is registered")
            self._steps[key] = step
            return step

        return add

    def __call__(self, type_: str, schema_version: int, data: JSON) -> tuple[int, JSON]:
        step = self._steps.get((type_, schema_version))
        while step is not None:
            data = step(data)
            schema_version += 1
            step = self._steps.get((type_, schema_version))
        return schema_version, data


def default_upcasters() -> Upcasters:
    """A registry holding the project's real upcasters (none yet: every type is at v1)."""
    return Upcasters()


@functools.cache
def _default() -> Upcasters:
    return default_upcasters()


# --- encode / decode ----------------------------------------------------------------


def encode(event: Event) -> tuple[str, int, JSON]:
    """``(type name, current schema version, JSON-able data)`` of ``event``."""
    type_name = EVENT_NAMES[type(event)]
    return type_name, CURRENT_VERSIONS[type_name], _CODECS[type_name].fast_encode(event)


def decode(
    type_name: str,
    data: JSON,
    schema_version: int | None = None,
    upcasters: Upcaster | None = None,
) -> Event:
    """The event stored as ``type_name``; data older than current is upcast first.

    ``schema_version=None`` means the data is already in the current shape.
    ``upcasters`` defaults to ``default_upcasters()``.
    """
    codec = _CODECS.get(type_name)
    if codec is None:
        raise UnknownEventType(type_name)
    current = CURRENT_VERSIONS[type_name]
    if schema_version is not None and schema_version != current:
        data = _upcast(type_name, schema_version, current, data, upcasters or _default())
    event: Event = codec.fast_decode(data)
    return event


Decoder = Callable[[JSON], Event]
"""Stored data of one type and schema version -> the event (see ``decoder``)."""


def decoder(
    type_name: str, schema_version: int | None = None, upcasters: Upcaster | None = None
) -> Decoder:
    """``decode(type_name, data, schema_version, upcasters)`` as a function of ``data``:
    the same events and the same errors, without the per-call lookups. Build it once per
    (type, schema version) and call it for every row of that kind (a replay keeps a dict
    of them). Raises at once what ``decode`` would raise for any data: an unknown type, a
    version newer than current. ``CURRENT_VERSIONS`` is read when it is built.
    """
    codec = _CODECS.get(type_name)
    if codec is None:
        raise UnknownEventType(type_name)
    current = CURRENT_VERSIONS[type_name]
    fast: Decoder = codec.fast_decode
    if schema_version is None or schema_version == current:
        return fast
    if schema_version > current:
        raise UnsupportedSchemaVersion(type_name, schema_version, current)
    upcaster = upcasters or _default()

    def upcast_and_decode(data: JSON) -> Event:
        return fast(_upcast(type_name, schema_version, current, data, upcaster))

    return upcast_and_decode


def decode_recorded(recorded: RecordedEvent, upcasters: Upcaster | None = None) -> Event:
    """``decode`` a stored event (its type, schema version and data); an event the store
    still holds in its decoded form (``RecordedEvent.decoded``) is returned as is."""
    decoded = recorded.decoded
    if decoded is not None:
        return typing.cast(Event, decoded)
    return decode(recorded.type, recorded.data, recorded.schema_version, upcasters)


def to_new_event(event: Event, event_id: str, metadata: JSON) -> NewEvent:
    """``event`` encoded, ready to append."""
    type_name, version, data = encode(event)
    return NewEvent(
        event_id=event_id,
        type=type_name,
        data=data,
        metadata=metadata,
        schema_version=version,
        source=event,
    )


def _upcast(type_name: str, version: int, current: int, data: JSON, upcaster: Upcaster) -> JSON:
    if version > current:
        raise UnsupportedSchemaVersion(type_name, version, current)
    reached, data = upcaster(type_name, version, data)
    if reached != current:
        raise UnsupportedSchemaVersion(type_name, reached, current)
    return data


# --- per-class codecs, built once from the dataclass fields -------------------------

_Convert = Callable[[Any], Any]
_MISSING: Final = object()


class _ClassCodec:
    """Encodes and decodes one dataclass; a converter of None means "as is".

    ``decode`` is the generic field loop (the reference, and the path of every error);
    ``fast_decode`` the compiled decoder, which falls back to it on anything unexpected.
    ``encode`` is the generic loop too; ``fast_encode`` (what ``encode()`` uses) is the
    same dict built by one compiled expression.
    """

    def __init__(self, cls: type[Any]) -> None:
        self.cls = cls
        hints = typing.get_type_hints(cls)
        self.fields: list[tuple[str, _Convert | None, _Convert | None, Any]] = []
        for field in dataclasses.fields(cls):
            to_json, from_json = _converters(hints[field.name])
            default = _MISSING if field.default is dataclasses.MISSING else field.default
            self.fields.append((field.name, to_json, from_json, default))
        self.fast_decode: _Convert = _compile_decoder(cls, self.decode)
        self.fast_encode: _Convert = _compile_encoder(cls, self.fields)

    def encode(self, obj: Any) -> JSON:
        out: JSON = {}
        for name, to_json, _, _ in self.fields:
            value = getattr(obj, name)
            out[name] = value if to_json is None or value is None else to_json(value)
        return out

    def decode(self, data: JSON) -> Any:
        # One flat loop: this runs once per field of every event a replay reads.
        args = []
        try:
            for name, _, from_json, default in self.fields:
                value = data.get(name, default)
                if value is _MISSING:
                    raise KeyError(name)
                args.append(value if from_json is None or value is None else from_json(value))
            return self.cls(*args)
        except (KeyError, TypeError, ValueError) as error:
            raise CodecError(f"cannot decode {self.cls.__name__} from {data!r}: {error}") from None


def _converters(hint: Any) -> tuple[_Convert | None, _Convert | None]:
    """(to JSON, from JSON) for a field's type; None for values JSON holds as they are."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [arg for arg in args if arg is not type(None)]
        return _converters(inner)  # None itself is passed through by the callers
    if origin is tuple:
        to_item, from_item = _converters(args[0])
        return _list_of(to_item), _tuple_of(from_item)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _enum_value, hint
    if dataclasses.is_dataclass(hint):
        nested = _ClassCodec(typing.cast(type[Any], hint))
        return nested.fast_encode, nested.decode
    return None, None


def _enum_value(member: enum.Enum) -> Any:
    return member.value


def _list_of(convert: _Convert | None) -> _Convert:
    if convert is None:
        return list
    return lambda values: [convert(value) for value in values]


def _tuple_of(convert: _Convert | None) -> _Convert:
    if convert is None:
        return tuple
    return lambda values: tuple(convert(value) for value in values)


# --- compiled encoders ----------------------------------------------------------------


def _compile_encoder(
    cls: type[Any], fields: list[tuple[str, _Convert | None, _Convert | None, Any]]
) -> _Convert:
    """``_ClassCodec.encode`` for ``cls`` as one dict display: a field JSON holds as it is
    is read as is, any other is converted unless None (a command encodes its events)."""
    env: dict[str, Any] = {}
    entries: list[str] = []
    for n, (name, to_json, _, _) in enumerate(fields):
        if to_json is None:
            entries.append(f"{name!r}: obj.{name}")
        else:
            env[f"_to{n}"] = to_json
            entries.append(f"{name!r}: None if (_v{n} := obj.{name}) is None else _to{n}(_v{n})")
    source = f"def encode(obj):\n    return {{{', '.join(entries)}}}\n"
    exec(source, env)  # generated from the dataclass's own field list
    encode: _Convert = env["encode"]
    encode.__qualname__ = f"{cls.__name__}.encode"
    return encode


# --- compiled decoders ----------------------------------------------------------------


class _Unexpected(Exception):
    """Data the compiled decoder leaves to the generic one (never escapes this module)."""


def _unexpected(value: object = None) -> Any:
    raise _Unexpected


def _compile_decoder(cls: type[Any], generic: _Convert) -> _Convert:
    """A decoder for ``cls`` compiled once: the generic decoder's result for the data JSON
    gives (a dict; lists for sequences), computed with one line per field.

    Each field is read as the generic loop reads it (``data[name]``, or ``data.get(name,
    default)``), None passes through as there, an enum value is looked up in a dict of the
    enum's values, a tuple is built from a list (nested dataclasses by their own compiled
    builder). The object is filled as an instance of a plain class with the same slots and
    then given ``cls`` as its class (as ``domain.decider``'s copier does; no frozen
    ``__init__``), or built with ``cls(...)`` where that switch does not fit.

    Whatever else it meets (not a dict, not a list, a missing field, a value the enum does
    not have, any exception) it hands the data, unchanged, to ``generic``: the result, or
    the error, is the generic decoder's own.
    """
    source = _Source()
    body = _decoder_body(cls, source)
    lines = [
        "def decode(data):",
        "    if type(data) is dict:",
        "        try:",
        *[f"            {line}" for line in body],
        "        except Exception:",
        "            pass",
        "    return generic(data)",
    ]
    return source.compile("decode", lines, generic=generic)


class _Source:
    """Names the generated code refers to, and the functions it defines."""

    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {"new": object.__new__, "unexpected": _unexpected}
        self.builders: dict[type[Any], str] = {}
        self.functions: list[str] = []

    def bind(self, value: Any, prefix: str) -> str:
        name = f"{prefix}{len(self.namespace)}"
        self.namespace[name] = value
        return name

    def builder(self, cls: type[Any]) -> str:
        """The name of a function that builds ``cls`` from a dict or raises (nested objects)."""
        name = self.builders.get(cls)
        if name is None:
            name = self.builders[cls] = f"build_{cls.__name__}_{len(self.builders)}"
            lines = [
                f"def {name}(data):",
                "    if type(data) is not dict:",
                "        unexpected()",
                *[f"    {line}" for line in _decoder_body(cls, self)],
            ]
            self.functions.append("\n".join(lines))
        return name

    def compile(self, name: str, lines: list[str], **names: Any) -> _Convert:
        namespace = {**self.namespace, **names}
        # the source holds only field names, the names bound above and fixed text
        exec("\n\n".join([*self.functions, "\n".join(lines)]), namespace)
        function: _Convert = namespace[name]
        return function


def _decoder_body(cls: type[Any], source: _Source) -> list[str]:
    """Lines that read every field of ``cls`` from ``data`` and return the object."""
    hints = typing.get_type_hints(cls)
    draft = _draft(cls)
    lines = [f"obj = new({source.bind(draft, 'draft')})"] if draft is not None else []
    values = []
    for field in dataclasses.fields(cls):
        name = field.name
        if field.default is dataclasses.MISSING:
            read = f"data[{name!r}]"  # a plain dict: KeyError, as the generic loop's
        else:
            read = f"data.get({name!r}, {source.bind(field.default, 'default')})"
        conversion = _conversion(hints[name], "value", source, 0)
        target = f"obj.{name}" if draft is not None else f"v_{name}"
        values.append(target)
        if conversion is None:
            lines.append(f"{target} = {read}")
        else:
            lines.append(f"value = {read}")
            lines.append(f"{target} = value if value is None else {conversion}")
    if draft is None:
        lines.append(f"return {source.bind(cls, 'cls')}({', '.join(values)})")
    else:
        lines.append(f"obj.__class__ = {source.bind(cls, 'cls')}")
        lines.append("return obj")
    return lines


def _conversion(hint: Any, value: str, source: _Source, depth: int) -> str | None:
    """An expression converting the JSON ``value`` to ``hint`` as ``_converters`` does (None:
    as is); it raises where the data is not as JSON of that type would be."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [arg for arg in args if arg is not type(None)]
        return _conversion(inner, value, source, depth)
    if origin is tuple:
        element = f"x{depth}"
        convert = _conversion(args[0], element, source, depth + 1)
        items = value if convert is None else f"[{convert} for {element} in {value}]"
        return f"(tuple({items}) if type({value}) is list else unexpected())"
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        members = {member.value: member for member in hint}
        return f"{source.bind(members, 'members')}[{value}]"
    if dataclasses.is_dataclass(hint):
        return f"{source.builder(typing.cast(type[Any], hint))}({value})"
    return None


def _draft(cls: type[Any]) -> type | None:
    """A plain class with the slots of ``cls`` whose instances may become ``cls``
    instances, if ``cls`` is a slotted dataclass whose ``__init__`` only stores its
    fields; else None (then the compiled code calls ``cls``)."""
    names = tuple(field.name for field in dataclasses.fields(cls))
    if hasattr(cls, "__post_init__") or not all(f.init for f in dataclasses.fields(cls)):
        return None
    draft = type(f"_{cls.__name__}Draft", (), {"__slots__": names})
    try:
        probe: Any = object.__new__(draft)
        probe.__class__ = cls  # only between identical layouts (same slots, no __dict__)
    except TypeError:
        return None
    return draft


_CODECS: Final[dict[str, _ClassCodec]] = {
    name: _ClassCodec(cls) for name, cls in EVENT_TYPES.items()
}
