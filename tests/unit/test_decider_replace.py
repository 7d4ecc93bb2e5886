"""The decider's copier behaves like ``dataclasses.replace`` on the domain's state."""

from __future__ import annotations

import dataclasses

import pytest

from domain.decider import replace
from domain.model import Item, ItemStatus, Order, OrderStatus, OrderType


def test_copies_like_dataclasses_replace() -> None:
    item = Item("i-1", "m-1", "Fries", 2, 350, ("salt",), "crispy", "fryer")
    order = Order("o-1", "2026-11-26", OrderType.TAKEOUT, items=(item,), version=3)
    for obj, changes in (
        (item, {"status": ItemStatus.SENT}),
        (item, {"quantity": 3, "notes": None}),
        (order, {"status": OrderStatus.SENT, "fired_ever": True, "version": 4}),
        (order, {}),
    ):
        copy = replace(obj, **changes)
        assert copy == dataclasses.replace(obj, **changes)  # type: ignore[arg-type]
        assert copy is not obj
    assert item.status is ItemStatus.NEW and order.version == 3  # the originals are untouched


def test_an_unknown_field_is_refused() -> None:
    order = Order("o-1", "2026-11-26", OrderType.DINE_IN, table_number=4)
    with pytest.raises(TypeError, match="no field 'colour'"):
        replace(order, colour="red")


def test_a_copy_is_a_plain_frozen_instance_of_the_class() -> None:
    item = Item("i-1", "m-1", "Fries", 2, 350)
    order = Order("o-1", "2026-11-26", OrderType.TAKEOUT, items=(item,))
    for obj in (replace(item, status=ItemStatus.READY), replace(order, version=2)):
        assert type(obj) in (Item, Order)
        assert hash(obj) == hash(dataclasses.replace(obj))  # type: ignore[arg-type]
        with pytest.raises(dataclasses.FrozenInstanceError):
            obj.notes = "changed"  # type: ignore[misc]
