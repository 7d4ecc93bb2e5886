"""``domain.frozen.fast_init``: the same frozen dataclass instances, built faster."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from dataclasses import dataclass, field
from typing import Any

import pytest

import domain.commands
import domain.events
import domain.handlers
import domain.model
import domain.ports
from domain.frozen import fast_init


def line_class(name: str) -> Any:
    """A fresh frozen, slotted dataclass with every kind of field ``fast_init`` handles."""

    @dataclass(frozen=True, slots=True)
    class Line:
        name: str
        quantity: int = 1
        tags: tuple[str, ...] = ()
        meta: dict[str, int] = field(default_factory=dict, hash=False)
        note: str | None = field(default=None, compare=False)
        station: str | None = field(default=None, kw_only=True)

    Line.__name__ = Line.__qualname__ = name
    return Line


Plain = line_class("Plain")  # the reference: the dataclass's own __init__
Fast = fast_init(line_class("Fast"))


CALLS = [
    (("burger",), {}),
    (("burger", 2, ("no onion",)), {"station": "grill"}),
    (("beer",), {"quantity": 3, "note": "cold", "meta": {"a": 1}}),
]


@pytest.mark.parametrize(("args", "kwargs"), CALLS)
def test_builds_what_the_dataclass_init_builds(args: tuple, kwargs: dict) -> None:  # type: ignore[type-arg]
    fast, plain = Fast(*args, **kwargs), Plain(*args, **kwargs)
    assert type(fast) is Fast
    assert dataclasses.astuple(fast) == dataclasses.astuple(plain)
    assert repr(fast) == repr(plain).replace("Plain", "Fast")
    assert fast == Fast(*args, **kwargs) and hash(fast) == hash(Fast(*args, **kwargs))
    assert copy.copy(fast) == fast == copy.deepcopy(fast) == pickle.loads(pickle.dumps(fast))
    assert dataclasses.replace(fast, quantity=9).quantity == 9


def test_still_frozen_defaults_fresh_and_arguments_checked() -> None:
    fast = Fast("burger")
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.name = "fries"  # type: ignore[misc]
    assert Fast("a").meta is not Fast("b").meta, "a default factory is called per instance"
    with pytest.raises(TypeError):
        Fast()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Fast("a", 1, (), {}, None, "grill")  # type: ignore[misc]  # keyword-only stays so
    with pytest.raises(TypeError):
        Fast("a", colour="red")  # type: ignore[call-arg]


def test_every_domain_dataclass_has_it() -> None:
    modules = [domain.commands, domain.events, domain.model, domain.ports, domain.handlers]
    classes = [
        value
        for module in modules
        for value in vars(module).values()
        if isinstance(value, type)
        and dataclasses.is_dataclass(value)
        and value.__module__ == module.__name__
    ]
    assert len(classes) > 30
    assert [c for c in classes if c.__init__ is not object.__init__] == []


def test_subclasses_are_built_the_dataclass_way() -> None:
    @dataclass(frozen=True, slots=True)
    class Louder(Fast):
        volume: int = 11

    class Same(Fast):
        pass

    louder = Louder("burger", 2, volume=3)
    assert (type(louder), louder.name, louder.quantity, louder.volume) == (Louder, "burger", 2, 3)
    assert louder.meta == {} and Louder("x").volume == 11
    same = Same("fries", 3, station="grill")
    assert (type(same), same.name, same.quantity, same.station) == (Same, "fries", 3, "grill")
    with pytest.raises(dataclasses.FrozenInstanceError):
        same.name = "x"  # type: ignore[misc]
    assert type(Fast("a")) is Fast
