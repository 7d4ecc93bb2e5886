"""Cheaper construction of the domain's frozen, slotted dataclasses.

A frozen dataclass's generated ``__init__`` sets each field with
``object.__setattr__(self, name, value)`` (its own ``__setattr__`` refuses), which makes
building one 4-6 x slower than building the same class unfrozen; a command builds a
dozen of them (command, item specs, events, stored events, states). ``fast_init(cls)``
gives ``cls`` a ``__new__`` that fills an instance of a plain twin class with the same
slots, by ordinary attribute stores, then gives it ``cls`` as its class (allowed: the
layouts are identical), and makes ``__init__`` ``object.__init__``. The instance is the
same as before: same class, fields, equality, hash and repr; still frozen.

The generated ``__new__`` has the dataclass ``__init__``'s parameters (names, order,
defaults, default factories, keyword-only markers), so ``cls(...)`` and
``dataclasses.replace`` are unchanged. ``__reduce__`` rebuilds from the fields (copy,
pickle). A subclass is built the ordinary way (``object.__new__``, then its own dataclass
``__init__``, or the base's for a plain subclass). Classes with ``__post_init__``,
``InitVar`` or ``init=False`` fields are left as they are.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

__all__ = ["fast_init"]

T = TypeVar("T")


def _rebuild(cls: type[T], fields: dict[str, Any]) -> T:
    """Unpickling and copying (``__reduce__``): the instance from its fields."""
    return cls(**fields)


def fast_init(cls: type[T]) -> type[T]:
    """Give the frozen, slotted dataclass ``cls`` the faster constructor (in place)."""
    params = dataclasses.fields(cls)  # type: ignore[arg-type]
    slots = cls.__dict__.get("__slots__")
    if (
        cls.__bases__ != (object,)
        or not isinstance(slots, tuple)
        or hasattr(cls, "__post_init__")
        or any(not f.init for f in params)
        or tuple(f.name for f in params) != tuple(s for s in slots if s != "__weakref__")
    ):
        return cls
    twin = type(f"_{cls.__name__}Slots", (), {"__slots__": slots})
    env: dict[str, Any] = {"_twin": twin, "_new": object.__new__, "_cls": cls}
    signature: list[str] = []
    body: list[str] = []
    keyword_only = False
    for f in params:
        if f.kw_only and not keyword_only:
            signature.append("*")
            keyword_only = True
        if f.default is not dataclasses.MISSING:
            env[f"_d_{f.name}"] = f.default
            signature.append(f"{f.name}=_d_{f.name}")
        elif f.default_factory is not dataclasses.MISSING:
            env[f"_f_{f.name}"] = f.default_factory
            signature.append(f"{f.name}=_MISSING")
            body.append(f"    if {f.name} is _MISSING: {f.name} = _f_{f.name}()")
            env["_MISSING"] = dataclasses.MISSING
        else:
            signature.append(f.name)
        body.append(f"    self.{f.name} = {f.name}")
    source = "\n".join(
        [
            f"def __new__(cls, {', '.join(signature)}):",
            "    if cls is not _cls:",
            "        raise TypeError(f'{cls.__name__} has no constructor of its own')",
            "    self = _new(_twin)",
            *body,
            "    self.__class__ = _cls",
            "    return self",
        ]
    )
    exec(source, env)
    new = env["__new__"]
    new.__qualname__ = f"{cls.__qualname__}.__new__"
    names = tuple(f.name for f in params)
    dataclass_init = cls.__init__

    def subclass_new(sub: type[Any], *args: Any, **kwargs: Any) -> Any:
        obj = object.__new__(sub)
        if sub.__init__ is object.__init__:  # a plain subclass: the dataclass's own init
            dataclass_init(obj, *args, **kwargs)
        return obj

    def __init_subclass__(sub: type[Any], **kwargs: Any) -> None:
        # A subclass (another layout, maybe more fields) is built the dataclass way.
        sub.__new__ = staticmethod(subclass_new)  # type: ignore[assignment]

    def __reduce__(self: Any) -> tuple[Any, tuple[type[T], dict[str, Any]]]:
        return _rebuild, (cls, {name: getattr(self, name) for name in names})

    __reduce__.__qualname__ = f"{cls.__qualname__}.__reduce__"
    cls.__init_subclass__ = classmethod(__init_subclass__)  # type: ignore[assignment,arg-type]
    cls.__new__ = staticmethod(new)  # type: ignore[method-assign]
    cls.__init__ = object.__init__  # type: ignore[method-assign]
    cls.__reduce__ = __reduce__  # type: ignore[method-assign]
    return cls
