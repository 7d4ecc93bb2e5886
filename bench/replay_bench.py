"""Replay benchmark: rebuild, verify and export beside a raw ``sqlite3`` scan of the log.

Not a test: prints figures. It generates a realistic SQLite store of ``--events`` events
(default 1,000,000): a simulated restaurant whose orders are driven through the real
decider (``domain.decider.decide``) and encoded with the real codec, so every row decodes
and folds like events the service wrote; only the writing is bulk ``sqlite3`` for speed
(orders with items, fires, holds, bumps, recalls, voids, status changes, discards,
cancellations; about 30 orders open at once, lunch and dinner rushes).

Then, on that file, each operation's events/s beside the raw scan (a plain cursor over
the events table with ``orjson`` decoding of ``data`` and ``metadata``) and the ratio:

  raw scan          SELECT every column in position order + orjson.loads of the JSON
                    (measured again right before each operation: the ratio compares runs
                    under the same machine load)
  export            ``events export`` to a file (JSON Lines, stored JSON embedded as is)
  rebuild in place  ``projections rebuild --in-place`` (truncate + replay, offline)
  rebuild online    ``projections rebuild`` (shadow tables + atomic swap; lock time shown)
  verify            ``store verify`` (log checks + fresh fold + row-by-row comparison)

Each figure also gives the process's CPU time for the operation (all its threads): on a
busy machine it moves less than the wall time. ``--repeat N`` measures every operation N
times, interleaved (export, rebuilds, verify, export, …), and keeps for each the run with
the best ratio to its raw scan.

usage: python bench/replay_bench.py [--events 1000000] [--db PATH] [--reuse]
                                    [--batch-size 5000] [--repeat 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from domain.business_day import business_day
from domain.codec import encode
from domain.commands import (
    AddItems,
    BumpItem,
    ChangeItem,
    ChangeOrderDetails,
    ChangeStatus,
    Command,
    DiscardOrder,
    FireItems,
    HoldItems,
    PlaceOrder,
    RecallItem,
    RemoveItem,
    VoidItem,
)
from domain.decider import decide, evolve
from domain.errors import DomainError
from domain.events import ItemSpec
from domain.model import ItemStatus, Order, OrderStatus, OrderType
from infrastructure.migrations import upgrade
from infrastructure.replay.rebuild import (
    REBUILD_BATCH,
    rebuild_in_place,
    rebuild_online,
)
from infrastructure.replay.transfer import export_events
from infrastructure.replay.verify import verify_store

MENU = (
    ("m-1", "Burger", 1450, "grill"),
    ("m-2", "Steak frites", 2690, "grill"),
    ("m-3", "Chicken wings", 990, "fry"),
    ("m-4", "Fries", 450, "fry"),
    ("m-5", "Caesar salad", 1190, "salad"),
    ("m-6", "Soup of the day", 750, "salad"),
    ("m-7", "IPA", 690, "bar"),
    ("m-8", "House red", 850, "bar"),
    ("m-9", "Lemonade", 400, "bar"),
    ("m-10", "Cheesecake", 790, "dessert"),
    ("m-11", "Bread basket", 300, None),
)
MODIFIERS = ("no onion", "extra cheese", "gluten free", "well done", "no ice", "on the side")
ZONE = UTC
START_HOUR = 4
INSERT = (
    "INSERT INTO events (position, stream_id, stream_version, event_id, type, schema_version, "
    "data, metadata, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
Row = tuple[int, str, int, str, str, int, str, str, str]


@dataclass
class _Order:
    state: Order | None
    script: Iterator[Command | None]
    version: int = 0


@dataclass
class Restaurant:
    """Generates rows; ``rows(n)`` yields exactly ``n`` of them in position order."""

    seed: int = 7
    open_orders: int = 30
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 2, 11, 0, tzinfo=UTC))

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._position = 0

    def rows(self, count: int) -> Iterator[Row]:
        active: list[_Order] = []
        while self._position < count:
            if len(active) < self.open_orders and self._rng.random() < 0.35:
                order = _Order(None, iter(()))
                order.script = self._script(order)
                active.append(order)
            else:
                order = self._rng.choice(active)
            command = next(order.script, None)
            if command is None:
                active.remove(order)
                continue
            yield from self._run(order, command, count)

    def _run(self, order: _Order, command: Command, limit: int) -> Iterator[Row]:
        self._tick()
        try:
            events = decide(order.state, command)
        except DomainError:
            return  # a scripted step the order no longer allows: skip it, like a POS would
        occurred = self.now.isoformat()
        correlation = self._new_id()
        metadata = orjson.dumps(
            {
                "occurred_at": occurred,
                "actor": f"pos-{self._rng.randint(1, 6)}",
                "correlation_id": correlation,
                "causation_id": None,
            }
        ).decode()
        for event in events:
            if self._position >= limit:
                return
            order.state = evolve(order.state, event)
            order.version += 1
            self._position += 1
            type_name, schema_version, data = encode(event)
            yield (
                self._position,
                order.state.order_id,
                order.version,
                self._new_id(),
                type_name,
                schema_version,
                orjson.dumps(data).decode(),
                metadata,
                occurred,
            )

    # --- one order's life ----------------------------------------------------------------

    def _script(self, order: _Order) -> Iterator[Command | None]:
        rng, order_id = self._rng, self._new_id()
        kind = rng.choices(list(OrderType), weights=(6, 3, 1))[0]
        table = rng.randint(1, 40) if kind is OrderType.DINE_IN else None
        fire = rng.random() < 0.85
        day = business_day(self.now, ZONE, START_HOUR)
        items = self._items(rng.randint(1, 5))
        yield PlaceOrder(order_id, day, kind, items, table, rng.randint(1, 6), None, fire)

        def state() -> Order:
            assert order.state is not None
            return order.state

        if not fire:
            yield from self._edit(order_id, state)
            if rng.random() < 0.08:
                yield DiscardOrder(order_id)
                return
            yield FireItems(order_id)
        if rng.random() < 0.5:
            yield ChangeStatus(order_id, OrderStatus.PREPARING)
        yield from self._cook(order_id, state)
        if rng.random() < 0.1:
            yield AddItems(order_id, self._items(rng.randint(1, 2)), fire=True)
            yield from self._cook(order_id, state)
        if rng.random() < 0.03:
            yield ChangeStatus(order_id, OrderStatus.CANCELLED, "guest left")
            return
        if state().status is OrderStatus.READY:
            yield ChangeStatus(order_id, OrderStatus.SERVED)
            yield ChangeStatus(order_id, OrderStatus.COMPLETED)
        else:
            yield ChangeStatus(order_id, OrderStatus.CANCELLED, "nothing left to serve")

    def _edit(self, order_id: str, state: Callable[[], Order]) -> Iterator[Command]:
        rng = self._rng
        if rng.random() < 0.4:
            yield ChangeOrderDetails(
                order_id, ("guest_count", "notes"), guest_count=4, notes="bday"
            )
        if rng.random() < 0.5:
            yield AddItems(order_id, self._items(rng.randint(1, 3)))
        new = [i.item_id for i in state().items if i.status is ItemStatus.NEW]
        if new and rng.random() < 0.4:
            modifiers = (rng.choice(MODIFIERS),)
            yield ChangeItem(order_id, new[0], ("quantity", "modifiers"), 2, modifiers)
        if len(new) > 1 and rng.random() < 0.3:
            yield RemoveItem(order_id, new[-1])
        if rng.random() < 0.2:
            yield HoldItems(order_id)
            yield HoldItems(order_id, release=True)

    def _cook(self, order_id: str, state: Callable[[], Order]) -> Iterator[Command]:
        rng = self._rng
        for item in [i for i in state().items if i.status is ItemStatus.SENT]:
            if rng.random() < 0.04:
                yield VoidItem(order_id, item.item_id, "86'd")
                continue
            yield BumpItem(order_id, item.item_id)
            if rng.random() < 0.04:
                yield RecallItem(order_id, item.item_id)
                yield BumpItem(order_id, item.item_id)

    # --- helpers --------------------------------------------------------------------------

    def _items(self, count: int) -> tuple[ItemSpec, ...]:
        rng = self._rng
        specs = []
        for _ in range(count):
            menu_id, name, price, station = rng.choice(MENU)
            modifiers = (rng.choice(MODIFIERS),) if rng.random() < 0.25 else ()
            specs.append(
                ItemSpec(
                    self._new_id(),
                    menu_id,
                    name,
                    rng.randint(1, 3),
                    price,
                    modifiers,
                    None,
                    station,
                )
            )
        return tuple(specs)

    def _tick(self) -> None:
        hour = self.now.hour
        busy = 11 <= hour < 14 or 18 <= hour < 22
        self.now += timedelta(seconds=self._rng.expovariate(1 / (4 if busy else 25)))
        if hour >= 23:  # closed: jump to the next day's opening
            self.now = (self.now + timedelta(days=1)).replace(hour=11, minute=0)

    def _new_id(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))


def write_events(path: Path, count: int, *, seed: int = 7, chunk: int = 50_000) -> int:
    """Append ``count`` generated events to the (migrated, empty) events table of ``path``."""
    restaurant = Restaurant(seed=seed)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("BEGIN")
        batch: list[Row] = []
        for row in restaurant.rows(count):
            batch.append(row)
            if len(batch) >= chunk:
                conn.executemany(INSERT, batch)
                batch.clear()
        if batch:
            conn.executemany(INSERT, batch)
        conn.execute("COMMIT")
    finally:
        conn.close()
    return count


# --- the measurements ---------------------------------------------------------------------

RAW_SCAN = (
    "SELECT position, stream_id, stream_version, event_id, type, schema_version, data, "
    "metadata, recorded_at FROM events ORDER BY position"
)


def raw_scan(path: Path) -> tuple[int, float]:
    """Events read and seconds: a plain cursor + orjson decode of data and metadata."""
    conn = sqlite3.connect(path)
    try:
        loads, count = orjson.loads, 0
        started = time.perf_counter()
        cursor = conn.execute(RAW_SCAN)
        while rows := cursor.fetchmany(10_000):
            for row in rows:
                loads(row[6])
                loads(row[7])
            count += len(rows)
        return count, time.perf_counter() - started
    finally:
        conn.close()


def timed(work: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = asyncio.run(work) if asyncio.iscoroutine(work) else work()
    return result, time.perf_counter() - started


def cpu_timed(work: Any) -> tuple[Any, float, float]:
    """``timed`` and the process's CPU seconds meanwhile (every thread's)."""
    cpu = time.process_time()
    result, seconds = timed(work)
    return result, seconds, time.process_time() - cpu


def prepare(path: Path, events: int, reuse: bool) -> float | None:
    """A migrated file holding ``events`` generated events; generation events/s (None: reused)."""
    if reuse and path.exists():
        with sqlite3.connect(path) as conn:
            if conn.execute("SELECT count(*) FROM events").fetchone()[0] == events:
                return None
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    upgrade(f"sqlite:///{path}")
    _, seconds = timed(lambda: write_events(path, events))
    return events / seconds


def run(path: Path, events: int, batch_size: int, repeat: int = 1) -> dict[str, Any]:
    """Each operation with the raw scan measured just before it (best of two): the ratio
    compares work done under the same machine load. ``repeat`` rounds of all of them; per
    operation, the round with the best ratio (the ratios of all rounds in ``ratios``)."""
    url = f"sqlite:///{path}"
    figures: dict[str, Any] = {}

    def measure(name: str, work: Any) -> Any:
        raw = max(events / raw_scan(path)[1] for _ in range(2))
        result, seconds, cpu = cpu_timed(work)
        rate = events / seconds
        figure = {
            "events_per_s": rate,
            "seconds": seconds,
            "cpu_seconds": cpu,
            "raw_scan_events_per_s": raw,
            "ratio_to_raw": rate / raw,
        }
        best = figures.get(name)
        ratios = [*(best["ratios"] if best else []), figure["ratio_to_raw"]]
        if best is None or figure["ratio_to_raw"] > best["ratio_to_raw"]:
            figures[name] = figure
        figures[name]["ratios"] = ratios
        print(
            f"  {name:<17} {rate:>9,.0f} events/s ({seconds:,.2f} s, cpu {cpu:,.2f} s); "
            f"raw scan {raw:,.0f}/s; ratio {rate / raw:.3f}",
            flush=True,
        )
        return result

    for round_ in range(repeat):
        if repeat > 1:
            print(f"  round {round_ + 1} of {repeat}", flush=True)
        with tempfile.TemporaryDirectory() as tmp, open(Path(tmp) / "events.jsonl", "wb") as out:
            exported = measure("export", lambda out=out: export_events(url, out))
            assert exported.events == events
            figures["export"]["bytes"] = out.tell()
        measure("rebuild in place", rebuild_in_place(url, batch_size=batch_size))
        online = measure("rebuild online", rebuild_online(url, batch_size=batch_size))
        if figures["rebuild online"]["ratios"][-1] == figures["rebuild online"]["ratio_to_raw"]:
            figures["rebuild online"]["swap_lock_seconds"] = online.swap_seconds
        report = measure("verify", verify_store(url, batch_size=batch_size))
        assert report.ok, report.differences[:5]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, help="Store file to create (default: a temp dir).")
    parser.add_argument("--reuse", action="store_true", help="Keep --db if it has --events.")
    parser.add_argument("--batch-size", type=int, default=REBUILD_BATCH)
    parser.add_argument(
        "--repeat", type=int, default=1, help="Rounds of measurements; the best kept per op."
    )
    parser.add_argument("--json", type=Path, help="Also write the figures to this file.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "replay-bench.db"
        print(
            f"replay bench: {args.events:,} events in {path} ({platform.python_version()}, "
            f"SQLite {sqlite3.sqlite_version}, {platform.machine()})",
            flush=True,
        )
        generated = prepare(path, args.events, args.reuse)
        if generated is not None:
            print(f"  generated at {generated:,.0f} events/s", flush=True)
        size = sum(
            Path(f"{path}{s}").stat().st_size for s in ("", "-wal") if Path(f"{path}{s}").exists()
        )
        print(f"  store file {size / 2**20:,.0f} MiB", flush=True)
        figures = run(path, args.events, args.batch_size, args.repeat)
    best = " (best of each)" if args.repeat > 1 else ""
    print(f"\n  operation          events/s   cpu s   raw scan events/s   ratio{best}")
    for name, figure in figures.items():
        print(
            f"  {name:<17} {figure['events_per_s']:>9,.0f}   {figure['cpu_seconds']:>5.2f}   "
            f"{figure['raw_scan_events_per_s']:>17,.0f}   {figure['ratio_to_raw']:>5.3f}"
        )
    lock = figures["rebuild online"].get("swap_lock_seconds")
    if lock is not None:
        print(f"\n  online rebuild held the write lock for {lock * 1000:,.0f} ms (tail + swap)")
    if args.json:
        args.json.write_text(json.dumps({"events": args.events, "figures": figures}, indent=2))


if __name__ == "__main__":
    main()
