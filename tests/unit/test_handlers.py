"""OrderService against the in-memory event store: append, retry, If-Match, idempotency."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.codec import decode_recorded
from domain.commands import BumpItem, ChangeItem, FireItems, PlaceOrder, RemoveItem
from domain.errors import RuleViolation
from domain.events import ItemBumped, ItemsFired, OrderPlaced, OrderStatusChanged
from domain.handlers import CommandContext, OrderService
from domain.model import OrderStatus, OrderType
from domain.ports import (
    AppendResult,
    ConcurrencyConflict,
    ExpectedVersion,
    IdempotencyKey,
    IdempotencyKeyReused,
    NewEvent,
)
from infrastructure.event_store.memory import InMemoryEventStore
from tests.unit.builders import DAY, spec

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 11, 25, 18, 1, 2, tzinfo=UTC)
CONTEXT = CommandContext(actor="pos-1", correlation_id="corr-1", causation_id="req-1")


class FixedClock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now_value = now

    def now(self) -> datetime:
        return self.now_value


class SequentialIds:
    def __init__(self) -> None:
        self.count = 0

    def new_id(self) -> str:
        self.count += 1
        return f"id-{self.count}"


class RacingStore(InMemoryEventStore):
    """Lets another writer append ``sneak`` just before our next append (or always conflicts)."""

    def __init__(self, *, always_lose: bool = False) -> None:
        super().__init__()
        self.sneak: list[NewEvent] = []
        self.appends = 0
        self.always_lose = always_lose

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion,
        *,
        idempotency: IdempotencyKey | None = None,
    ) -> AppendResult:
        self.appends += 1
        if self.always_lose:
            raise ConcurrencyConflict(stream_id, expected_version, 99)
        if self.sneak:
            sneak, self.sneak = self.sneak, []
            await super().append(stream_id, sneak, "any")
        return await super().append(stream_id, events, expected_version, idempotency=idempotency)


@pytest.fixture
def store() -> RacingStore:
    return RacingStore()


@pytest.fixture
def service(store: RacingStore) -> OrderService:
    return OrderService(store, FixedClock(), SequentialIds(), max_retries=2)


def place(order_id: str = "o-1", fire: bool = True) -> PlaceOrder:
    return PlaceOrder(order_id, DAY, OrderType.TAKEOUT, (spec("a"), spec("b")), fire=fire)


def key(name: str = "k-1", fingerprint: str = "f-1") -> IdempotencyKey:
    return IdempotencyKey(name, fingerprint)


async def test_a_command_appends_its_events_with_metadata(
    service: OrderService, store: RacingStore
) -> None:
    result = await service.execute(place(), CONTEXT)
    assert [type(e) for e in result.events] == [OrderPlaced, ItemsFired]
    assert result.order is not None and result.order.status is OrderStatus.SENT
    assert result.order.version == 2
    assert result.append == AppendResult("o-1", 2, 1, 2)
    assert result.position == 2
    recorded = await store.read_stream("o-1")
    assert [decode_recorded(r) for r in recorded] == result.events
    assert [r.event_id for r in recorded] == ["id-1", "id-2"]
    assert {r.schema_version for r in recorded} == {1}
    assert recorded[0].metadata == {
        "occurred_at": NOW.isoformat(),
        "actor": "pos-1",
        "correlation_id": "corr-1",
        "causation_id": "req-1",
    }
    assert await service.load("o-1") == result.order


async def test_a_command_that_decides_nothing_appends_nothing(
    service: OrderService, store: RacingStore
) -> None:
    await service.execute(place(fire=False), CONTEXT)
    result = await service.execute(ChangeItem("o-1", "a", ("quantity",), quantity=1), CONTEXT)
    assert (result.events, result.append, result.position) == ([], None, None)
    assert result.order is not None and result.order.version == 1
    assert await store.head_position() == 1


async def test_a_refused_command_raises_and_appends_nothing(
    service: OrderService, store: RacingStore
) -> None:
    await service.execute(place(), CONTEXT)
    with pytest.raises(RuleViolation, match="void it instead"):
        await service.execute(RemoveItem("o-1", "a"), CONTEXT)
    assert await store.head_position() == 2


async def test_unknown_orders_load_as_none(service: OrderService) -> None:
    assert await service.load("nope") is None


async def test_a_stale_if_match_conflicts_at_once(
    service: OrderService, store: RacingStore
) -> None:
    await service.execute(place(), CONTEXT)
    with pytest.raises(ConcurrencyConflict) as caught:
        await service.execute(BumpItem("o-1", "a"), CONTEXT, expected_version=1)
    assert (caught.value.expected, caught.value.actual) == (1, 2)
    assert store.appends == 1


async def test_a_matching_if_match_that_loses_a_race_is_not_retried(
    service: OrderService, store: RacingStore
) -> None:
    await service.execute(place(), CONTEXT)
    store.sneak = [NewEvent("other", "ItemBumped", {"order_id": "o-1", "item_id": "b"})]
    with pytest.raises(ConcurrencyConflict):
        await service.execute(BumpItem("o-1", "a"), CONTEXT, expected_version=2)
    assert store.appends == 2


async def test_a_lost_race_is_decided_again_on_the_new_state(
    service: OrderService, store: RacingStore
) -> None:
    await service.execute(place(), CONTEXT)
    store.sneak = [NewEvent("other", "ItemBumped", {"order_id": "o-1", "item_id": "b"})]
    result = await service.execute(BumpItem("o-1", "a"), CONTEXT)
    # decided again after b was bumped by the other writer: a is the last one, so ready
    assert result.events == [
        ItemBumped("o-1", "a"),
        OrderStatusChanged("o-1", OrderStatus.SENT, OrderStatus.READY),
    ]
    assert result.append is not None and result.append.stream_version == 5


async def test_retries_are_bounded() -> None:
    losing = RacingStore(always_lose=True)
    service = OrderService(losing, FixedClock(), SequentialIds(), max_retries=2)
    with pytest.raises(ConcurrencyConflict):
        await service.execute(place(), CONTEXT)
    assert losing.appends == 3


async def test_an_idempotent_retry_of_a_new_order_returns_the_first(
    service: OrderService, store: RacingStore
) -> None:
    first = await service.execute(place("o-1"), CONTEXT, idempotency=key())
    again = await service.execute(place("o-2"), CONTEXT, idempotency=key())
    assert again.events == []
    assert again.append == AppendResult("o-1", 2, 1, 2, replayed=True)
    assert again.order == first.order
    assert await store.head_position() == 2


async def test_an_idempotent_retry_that_would_now_be_refused_is_replayed(
    service: OrderService, store: RacingStore
) -> None:
    await service.execute(place(fire=False), CONTEXT)
    first = await service.execute(FireItems("o-1"), CONTEXT, idempotency=key())
    await service.execute(BumpItem("o-1", "a"), CONTEXT)
    # firing again would be "nothing_to_fire", and the If-Match is stale by now
    again = await service.execute(FireItems("o-1"), CONTEXT, expected_version=1, idempotency=key())
    assert again.events == []
    assert again.append == AppendResult("o-1", 2, 2, 2, replayed=True)
    assert again.order == first.order
    assert again.order is not None and again.order.version == 2
    assert again.order.status is OrderStatus.SENT


async def test_a_key_reused_with_another_request_is_refused(service: OrderService) -> None:
    await service.execute(place(fire=False), CONTEXT)
    await service.execute(FireItems("o-1"), CONTEXT, idempotency=key())
    with pytest.raises(IdempotencyKeyReused):
        await service.execute(BumpItem("o-1", "a"), CONTEXT, idempotency=key(fingerprint="f-2"))


async def test_ids_and_the_business_day_come_from_the_ports() -> None:
    clock = FixedClock(datetime(2026, 11, 25, 2, 0, tzinfo=UTC))
    service = OrderService(InMemoryEventStore(), clock, SequentialIds())
    assert (service.new_order_id(), service.new_item_id()) == ("id-1", "id-2")
    assert service.business_day_now(ZoneInfo("UTC"), 4) == "2026-11-24"
    clock.now_value += timedelta(hours=2)
    assert service.business_day_now(ZoneInfo("UTC"), 4) == "2026-11-25"
