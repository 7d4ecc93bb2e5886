"""Business days (time zone, start hour, DST) and per-day order numbering."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from domain.business_day import OrderNumbering, business_day
from domain.events import OrderPlaced
from domain.model import OrderType

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("local", "start_hour", "day"),
    [
        ("2026-11-25 02:00", 4, "2026-11-24"),
        ("2026-11-25 03:59:59.999999", 4, "2026-11-24"),
        ("2026-11-25 04:00", 4, "2026-11-25"),
        ("2026-11-25 23:59", 4, "2026-11-25"),
        ("2026-11-25 00:00", 0, "2026-11-25"),
        ("2026-01-01 01:00", 4, "2025-12-31"),
        ("2026-03-01 03:00", 6, "2026-02-28"),
    ],
)
def test_the_day_turns_at_the_start_hour(local: str, start_hour: int, day: str) -> None:
    instant = datetime.fromisoformat(local).replace(tzinfo=BERLIN)
    assert business_day(instant, BERLIN, start_hour) == day


def test_the_instant_is_read_in_the_restaurant_time_zone() -> None:
    # 02:30 UTC is 21:30 the evening before in New York
    assert business_day(utc("2026-11-25 02:30"), NEW_YORK, 4) == "2026-11-24"
    assert business_day(utc("2026-11-25 02:30"), BERLIN, 4) == "2026-11-24"
    assert business_day(utc("2026-11-25 03:30"), BERLIN, 4) == "2026-11-25"


@pytest.mark.parametrize(
    ("instant", "day"),
    [
        ("2026-03-08 06:59", "2026-03-07"),  # 01:59 EST; 02:00-03:00 does not exist that night
        ("2026-03-08 07:00", "2026-03-08"),  # 03:00 EDT: the day starts an hour late
    ],
)
def test_a_start_hour_skipped_by_dst_starts_the_day_at_the_next_hour(
    instant: str, day: str
) -> None:
    assert business_day(utc(instant), NEW_YORK, 2) == day


@pytest.mark.parametrize(
    ("instant", "day"),
    [
        ("2026-11-01 04:30", "2026-10-31"),  # 00:30 EDT
        ("2026-11-01 05:30", "2026-11-01"),  # 01:30 EDT, the first time
        ("2026-11-01 06:30", "2026-11-01"),  # 01:30 EST, the second time
    ],
)
def test_a_start_hour_repeated_by_dst_counts_once(instant: str, day: str) -> None:
    assert business_day(utc(instant), NEW_YORK, 1) == day


def test_the_business_day_that_gains_an_hour_is_25_hours_long() -> None:
    assert business_day(utc("2026-10-31 08:00"), NEW_YORK, 4) == "2026-10-31"  # 04:00 EDT
    assert business_day(utc("2026-11-01 08:59"), NEW_YORK, 4) == "2026-10-31"  # 03:59 EST
    assert business_day(utc("2026-11-01 09:00"), NEW_YORK, 4) == "2026-11-01"  # 04:00 EST


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        business_day(datetime(2026, 11, 25, 12), BERLIN, 4)
    with pytest.raises(ValueError, match="start_hour"):
        business_day(utc("2026-11-25 12:00"), BERLIN, 24)


# --- numbering -------------------------------------------------------------------


def placed(order_id: str, day: str) -> OrderPlaced:
    return OrderPlaced(order_id, day, OrderType.TAKEOUT, ())


def test_orders_are_numbered_per_business_day() -> None:
    numbering = OrderNumbering()
    days = ["2026-11-24", "2026-11-24", "2026-11-25", "2026-11-24", "2026-11-25"]
    numbers = [numbering.number(placed(f"o{n}", day)) for n, day in enumerate(days)]
    assert numbers == [1, 2, 1, 3, 2]
    assert numbering.snapshot() == {"2026-11-24": 3, "2026-11-25": 2}
    assert numbering.last_number("2026-11-26") == 0


def test_numbering_continues_from_persisted_counters() -> None:
    seed = {"2026-11-25": 41}
    numbering = OrderNumbering(seed)
    assert numbering.next_number("2026-11-25") == 42
    assert numbering.next_number("2026-11-26") == 1
    assert seed == {"2026-11-25": 41}, "the seed is copied, not changed"
