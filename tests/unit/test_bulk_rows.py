"""The rebuild's rows: its times are the view's text of what the live projector reads from
an event, its statements the live projector's."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from infrastructure.read_models.handlers import _VIEWS_UPSERT
from infrastructure.read_models.tables import ORDER_VIEWS, iso
from infrastructure.read_models.views import occurred
from infrastructure.replay.bulk import _at, _upsert

RECORDED = "2026-11-25 18:00:00.250000"


def outcome(work: Any) -> tuple[str, Any]:
    try:
        return ("value", work())
    except Exception as error:
        return ("error", (type(error), str(error)))


def live(metadata: str, recorded_at: str) -> str:
    """What the live projector shows: ``iso(views.occurred_at(event))``."""
    return iso(occurred(orjson.loads(metadata)) or datetime.fromisoformat(recorded_at))


def stamped(raw: Any) -> str:
    return orjson.dumps({"actor": "pos-1", "occurred_at": raw}).decode()


def random_times(count: int) -> list[str]:
    rng = random.Random(5)
    zones = [
        UTC,
        timezone(timedelta(0)),
        timezone(timedelta(hours=2)),
        timezone(-timedelta(hours=5, minutes=30)),
    ]
    times = []
    for _ in range(count):
        at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=rng.randrange(10**14))
        if rng.random() < 0.2:
            at = at.replace(microsecond=0)  # isoformat() leaves the fraction out
        times.append(at.astimezone(rng.choice(zones)).isoformat())
    return times


ODD = [
    "2026-11-25T18:00:00.123456+00:00",
    "2026-11-25T18:00:00+00:00",
    "2026-11-25T18:00:00.123+00:00",
    "2026-11-25T18:00:00.123456Z",
    "2026-11-25T18:00:00.123456-00:00",
    "2026-11-25 18:00:00.123456+00:00",
    "2026-11-25x18:00:00.123456+00:00",
    "2026-11-25T18:00:00,123456+00:00",
    "2026-11-25T18:00:00.123456",
    "2026-11-25T18:00:00.123456+01:00",
    "2026-11-25T18:00:00.123456+00:00:00",
    "2026-W48-3T18:00:00.123456+00:00",
    "2026-329T18:00:00.123456+00:00",
    "20261125T180000.123456+00:00",
    "2026-11-25T24:00:00.000000+00:00",
    "2026-11-25T18:00:60.000000+00:00",
    "2026-13-25T18:00:00.123456+00:00",
    "٢٠٢٦-11-25T18:00:00.123456+00:00",
    "2026-11-25T18:00:00.12345\uff16+00:00",  # a fullwidth digit
    "",
    "late",
]


@pytest.mark.parametrize("raw", [*ODD, *random_times(300)])
def test_a_time_is_the_views_text_of_the_events_occurred_at(raw: str) -> None:
    metadata = stamped(raw)
    assert outcome(lambda: _at(metadata, RECORDED)) == outcome(lambda: live(metadata, RECORDED))


@pytest.mark.parametrize("raw", [None, 5, ["2026-11-25T18:00:00.123456+00:00"], "absent"])
@pytest.mark.parametrize("recorded_at", [RECORDED, "2026-11-25 18:00:00", "2026-11-25T18:00:00"])
def test_without_an_occurred_at_the_recorded_time_stands_in(raw: Any, recorded_at: str) -> None:
    metadata = '{"actor":"pos-1"}' if raw == "absent" else stamped(raw)
    assert _at(metadata, recorded_at) == live(metadata, recorded_at)


def test_a_rebuilds_upsert_is_the_live_one_on_its_table() -> None:
    assert _upsert(ORDER_VIEWS, ("id",), "") == _VIEWS_UPSERT.sql
    shadow = _upsert(ORDER_VIEWS, ("id",), "_shadow_")
    assert shadow == _VIEWS_UPSERT.sql.replace("order_views", "_shadow_order_views", 1)
