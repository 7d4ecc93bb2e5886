"""Events <-> raw ``(type name, schema version, data)`` as the event store keeps them.

Owns: the current schema version of every event type (``CURRENT_VERSIONS``),
the JSON shape of each event (field names as in the dataclass; enums as their
values; tuples as lists; ``ItemSpec`` as a nested object), and the registry of
upcasters that turn data stored under an old schema version into the current
shape before it is decoded.

The per-class encoders and decoders are built once from the dataclass fields
(no ``dataclasses.asdict``: it deep-copies every value and was several times
slower in the replay benchmark this module is on the path of).

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
    "UnknownEventType",
    "UnsupportedSchemaVersion",
    "Upcasters",
    "decode",
    "decode_recorded",
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
    return type_name, CURRENT_VERSIONS[type_name], _CODECS[type_name].encode(event)


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
    event: Event = codec.decode(data)
    return event


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
    """Encodes and decodes one dataclass; a converter of None means "as is"."""

    def __init__(self, cls: type[Any]) -> None:
        self.cls = cls
        hints = typing.get_type_hints(cls)
        self.fields: list[tuple[str, _Convert | None, _Convert | None, Any]] = []
        for field in dataclasses.fields(cls):
            to_json, from_json = _converters(hints[field.name])
            default = _MISSING if field.default is dataclasses.MISSING else field.default
            self.fields.append((field.name, to_json, from_json, default))

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
        return nested.encode, nested.decode
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


_CODECS: Final[dict[str, _ClassCodec]] = {
    name: _ClassCodec(cls) for name, cls in EVENT_TYPES.items()
}
