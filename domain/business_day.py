"""Business days and per-day order numbers.

A restaurant's day does not end at midnight: with a start hour of 4, an order
placed at 02:00 local time belongs to the previous day. The start hour is read
on the local wall clock, so it holds across DST changes (a day that loses or
gains an hour is simply shorter or longer).

``OrderNumbering`` is the pure fold the projector runs over ``OrderPlaced``
events in position order: the n-th order of a business day gets number n. It
is seeded from the counters the projector persisted, so numbers continue after
a restart and come out the same on every replay.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, tzinfo

from domain.events import OrderPlaced

__all__ = ["OrderNumbering", "business_day"]


def business_day(instant: datetime, tz: tzinfo, start_hour: int) -> str:
    """The ISO date of the business day ``instant`` falls in, in ``tz``."""
    if instant.tzinfo is None:
        raise ValueError("instant must be timezone-aware")
    if not 0 <= start_hour <= 23:
        raise ValueError(f"start_hour must be 0..23, got {start_hour}")
    local = instant.astimezone(tz)
    day = local.date()
    if local.hour < start_hour:
        day -= timedelta(days=1)
    return day.isoformat()


class OrderNumbering:
    """Per-business-day counters: ``next_number(day)`` returns 1, 2, 3, ... for each day."""

    def __init__(self, last_numbers: Mapping[str, int] | None = None) -> None:
        """Start from ``last_numbers`` (business day -> last number given), e.g. as persisted."""
        self._last: dict[str, int] = dict(last_numbers or {})

    def next_number(self, business_day: str) -> int:
        number = self._last.get(business_day, 0) + 1
        self._last[business_day] = number
        return number

    def number(self, event: OrderPlaced) -> int:
        """The ticket number of the order ``event`` places (call once per event, in order)."""
        return self.next_number(event.business_day)

    def last_number(self, business_day: str) -> int:
        """The last number given on ``business_day`` (0 if none)."""
        return self._last.get(business_day, 0)

    def snapshot(self) -> dict[str, int]:
        """A copy of the counters, to persist or to seed another instance."""
        return dict(self._last)
