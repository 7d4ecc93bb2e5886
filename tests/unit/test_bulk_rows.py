"""The rebuild's row values are what SQLAlchemy would bind for the same rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy.dialects import sqlite

from infrastructure.read_models.tables import (
    KITCHEN_TICKET_ITEMS,
    KITCHEN_TICKETS,
    ORDER_VIEWS,
    PROJECTION_CHECKPOINTS,
)
from infrastructure.replay.bulk import _Upsert

DIALECT = sqlite.dialect()


class Later(datetime):
    """A datetime subclass: left to SQLAlchemy's processor."""


TIMES: list[Any] = [
    None,
    datetime(2026, 11, 25, 18, 0, tzinfo=UTC),
    datetime(2026, 11, 25, 18, 0, 0, 1, tzinfo=UTC),
    datetime(2026, 11, 25, 20, 30, 5, 123456, tzinfo=timezone(timedelta(hours=2))),
    datetime(2026, 11, 25, 18, 0, 0, 999999),
    datetime(1, 1, 1),
    datetime(999, 12, 31, 23, 59, 59, 500000, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    Later(2026, 11, 25, 18, 0, 0, 42),
    date(2026, 11, 25),
]


def outcome(process: Any, value: Any) -> tuple[str, Any]:
    try:
        return ("value", process(value))
    except Exception as error:
        return ("error", (type(error), str(error)))


@pytest.mark.parametrize("value", [*TIMES, "2026-11-25", 5], ids=repr)
def test_timestamps_are_the_text_sqlalchemy_binds(value: Any) -> None:
    column = ORDER_VIEWS.c.created_at
    process = column.type.dialect_impl(DIALECT).bind_processor(DIALECT)
    upsert = _Upsert(ORDER_VIEWS, ("id",), "", DIALECT)
    row = {c.name: None for c in ORDER_VIEWS.columns}
    expected = outcome(process, value)
    got = outcome(lambda v: upsert.rows([{**row, "created_at": v}])[0][9], value)
    assert [c.name for c in ORDER_VIEWS.columns][9] == "created_at"
    assert got == expected


@pytest.mark.parametrize(
    "table", [ORDER_VIEWS, KITCHEN_TICKETS, KITCHEN_TICKET_ITEMS, PROJECTION_CHECKPOINTS]
)
def test_rows_are_the_columns_in_table_order_with_bind_processors_applied(table: Any) -> None:
    upsert = _Upsert(table, (next(iter(table.primary_key.columns)).name,), "pre_", DIALECT)
    for stamp in TIMES[:8]:
        row = {c.name: stamp if _is_time(c) else f"{c.name}-value" for c in table.columns}
        expected = tuple(_bound(c, row[c.name]) for c in table.columns)
        assert upsert.rows([row]) == [expected]
    assert upsert.sql.startswith(f"INSERT INTO pre_{table.name} (")
    assert upsert.sql.count("?") == len(table.columns)


def _is_time(column: Any) -> bool:
    return isinstance(column.type.dialect_impl(DIALECT), sqlite.DATETIME)


def _bound(column: Any, value: Any) -> Any:
    process = column.type.dialect_impl(DIALECT).bind_processor(DIALECT)
    return value if process is None else process(value)
