"""Event store benchmark: the SQLite adapter beside raw ``sqlite3`` doing the same work.

Not a test: prints figures. Every case runs on a fresh file migrated with the real
Alembic revisions, in WAL mode at the chosen ``--synchronous``, for about ``--seconds``:

  raw_1row / raw_3rows     raw sqlite3, one transaction per 1 or 3 event rows (the anchor
                           of ../shared/bench: ~3,562 and ~3,189 tx/s at FULL on the 2-vCPU VM)
  store_1ev_seq / _3ev_seq one task appending 1 or 3 events per append to new streams
  store_1ev_cN / _3ev_cN   N concurrent tasks (--concurrency, 32): group commit at work
  scan_raw                 raw cursor over the events table + orjson decode of data/metadata
  scan_store               ``read_all`` in pages of 1000 (RecordedEvent, datetime, upcast hook)

Each store case is printed with its ratio to the matching raw case (append cases compare
appends/s with raw transactions/s: one append is one transaction's worth of work).

usage: python bench/store_bench.py [--seconds 5] [--synchronous FULL|NORMAL]
                                    [--concurrency 32] [--scan-events 200000] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from domain.ports import NO_STREAM, NewEvent
from infrastructure.event_store import SqliteEventStore
from infrastructure.migrations import upgrade

DATA = {
    "order_type": "dine_in",
    "table_number": 7,
    "items": [
        {"id": "i-1", "menu_item_id": "m-12", "name": "Burger", "quantity": 2, "unit_price": 575},
        {"id": "i-2", "menu_item_id": "m-31", "name": "Fries", "quantity": 1, "unit_price": 300},
    ],
    "notes": "no onions, extra napkins",
}
METADATA = {
    "occurred_at": "2026-11-25T18:01:02.123456+00:00",
    "actor": "pos-3",
    "correlation_id": "6f1c7a52-3d1e-4a8e-9a57-0d7f9b1f2c11",
    "causation_id": "6f1c7a52-3d1e-4a8e-9a57-0d7f9b1f2c11",
}
TYPES = ("OrderPlaced", "ItemsFired", "OrderStatusChanged")
MAX_OPS = 5_000_000  # a hard bound on every loop, whatever the clock says
INSERT = (
    "INSERT INTO events (stream_id, stream_version, event_id, type, schema_version, data, "
    "metadata, recorded_at) VALUES (?, ?, ?, ?, 1, ?, ?, ?)"
)


def fresh_db(directory: Path, name: str) -> Path:
    path = directory / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    upgrade(f"sqlite:///{path}")
    return path


# ---------------------------------------------------------------- raw sqlite3


def raw_append(path: Path, synchronous: str, rows_per_tx: int, seconds: float) -> dict[str, Any]:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    data, metadata = orjson.dumps(DATA).decode(), orjson.dumps(METADATA).decode()
    txs = 0
    started = time.perf_counter()
    deadline = started + seconds
    while txs < MAX_OPS:
        stream, now = str(uuid.uuid4()), datetime.now(UTC).isoformat()
        conn.execute("BEGIN IMMEDIATE")
        for version in range(1, rows_per_tx + 1):
            row = (stream, version, str(uuid.uuid4()), TYPES[version - 1], data, metadata, now)
            conn.execute(INSERT, row)
        conn.execute("COMMIT")
        txs += 1
        if txs % 16 == 0 and time.perf_counter() >= deadline:
            break
    elapsed = time.perf_counter() - started
    conn.close()
    return {"ops": txs, "events": txs * rows_per_tx, "elapsed_s": elapsed}


def raw_scan(path: Path, seconds: float) -> dict[str, Any]:
    conn = sqlite3.connect(path, isolation_level=None)
    loads = orjson.loads
    query = (
        "SELECT position, stream_id, stream_version, event_id, type, schema_version, data, "
        "metadata, recorded_at FROM events ORDER BY position"
    )
    events = passes = 0
    started = time.perf_counter()
    deadline = started + seconds
    while (passes == 0 or time.perf_counter() < deadline) and passes < 1000:
        passes += 1
        for row in conn.execute(query):
            loads(row[6])
            loads(row[7])
            events += 1
            if events % 4096 == 0 and time.perf_counter() >= deadline:
                break
    elapsed = time.perf_counter() - started
    conn.close()
    return {"ops": events, "events": events, "passes": passes, "elapsed_s": elapsed}


def fill_for_scan(path: Path, count: int) -> None:
    """``count`` events in 3-event streams, written fast (synchronous OFF, big transactions)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    data, metadata = orjson.dumps(DATA).decode(), orjson.dumps(METADATA).decode()
    now = datetime.now(UTC).isoformat()
    rows = (
        (f"order-{n // 3}", n % 3 + 1, str(uuid.uuid4()), TYPES[n % 3], data, metadata, now)
        for n in range(count)
    )
    conn.execute("BEGIN")
    conn.executemany(INSERT, rows)
    conn.execute("COMMIT")
    conn.close()


# ---------------------------------------------------------------- the adapter


async def store_append(
    path: Path, synchronous: str, events_per_append: int, tasks: int, seconds: float
) -> dict[str, Any]:
    store = await SqliteEventStore.open(path, synchronous=synchronous.upper())  # type: ignore[arg-type]
    appends = 0
    deadline = time.perf_counter() + seconds

    async def appender() -> None:
        nonlocal appends
        while appends < MAX_OPS and time.perf_counter() < deadline:
            events = [
                NewEvent(str(uuid.uuid4()), TYPES[i], DATA, METADATA)
                for i in range(events_per_append)
            ]
            await store.append(str(uuid.uuid4()), events, NO_STREAM)
            appends += 1

    started = time.perf_counter()
    try:
        await asyncio.gather(*(appender() for _ in range(tasks)))
    finally:
        elapsed = time.perf_counter() - started
        await store.close()
    return {"ops": appends, "events": appends * events_per_append, "elapsed_s": elapsed}


async def store_scan(path: Path, seconds: float) -> dict[str, Any]:
    store = await SqliteEventStore.open(path)
    events = passes = 0
    started = time.perf_counter()
    deadline = started + seconds
    try:
        while (passes == 0 or time.perf_counter() < deadline) and passes < 1000:
            passes += 1
            after = 0
            while page := await store.read_all(after_position=after, limit=1000):
                events += len(page)
                after = page[-1].position
    finally:
        elapsed = time.perf_counter() - started
        await store.close()
    return {"ops": events, "events": events, "passes": passes, "elapsed_s": elapsed}


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each case")
    parser.add_argument("--synchronous", choices=("FULL", "NORMAL"), default="FULL")
    parser.add_argument("--concurrency", type=int, default=32, help="appenders in the cN cases")
    parser.add_argument("--scan-events", type=int, default=200_000, help="events to scan")
    parser.add_argument("--dir", type=Path, default=None, help="where the files go (temp dir)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    sync, secs, n = args.synchronous, args.seconds, args.concurrency

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        directory = Path(tmp)
        results: list[dict[str, Any]] = []

        def run(case: str, unit: str, fn: Callable[[], dict[str, Any]], vs: str | None) -> None:
            print(f"[store_bench] {case} ...", file=sys.stderr, flush=True)
            result = fn()
            result = {"case": case, "unit": unit, **result}
            result["per_s"] = result["ops"] / result["elapsed_s"]
            result["events_per_s"] = result["events"] / result["elapsed_s"]
            if vs is not None:
                base = next(r for r in results if r["case"] == vs)
                result["vs"], result["ratio"] = vs, result["per_s"] / base["per_s"]
            results.append(result)

        for rows in (1, 3):
            raw = f"raw_{rows}row{'s' if rows > 1 else ''}"
            run(raw, "tx", lambda r=rows: raw_append(fresh_db(directory, f"raw{r}"), sync, r, secs),
                None)  # fmt: skip
            for tasks, label in ((1, "seq"), (n, f"c{n}")):
                db = fresh_db(directory, f"store{rows}_{tasks}")
                run(f"store_{rows}ev_{label}", "append",
                    lambda db=db, r=rows, t=tasks: asyncio.run(store_append(db, sync, r, t, secs)),
                    raw)  # fmt: skip

        scan_db = fresh_db(directory, "scan")
        fill_for_scan(scan_db, args.scan_events)
        run("scan_raw", "event", lambda: raw_scan(scan_db, secs), None)
        run("scan_store", "event", lambda: asyncio.run(store_scan(scan_db, secs)), "scan_raw")

    print(f"\nsynchronous={sync}  seconds/case={secs}  SQLite {sqlite3.sqlite_version}  "
          f"Python {platform.python_version()}  cpus={os.cpu_count()}")  # fmt: skip
    print(f"{'case':18s} {'rate':>12s} {'unit':8s} {'events/s':>11s} {'vs':>10s} {'ratio':>6s}")
    for r in results:
        ratio = f"{r['ratio']:.2f}" if "ratio" in r else ""
        print(f"{r['case']:18s} {r['per_s']:12,.0f} {r['unit'] + '/s':8s} "
              f"{r['events_per_s']:11,.0f} {r.get('vs', ''):>10s} {ratio:>6s}")  # fmt: skip
    if args.json is not None:
        meta = {
            "date": datetime.now(UTC).isoformat(),
            "synchronous": sync,
            "seconds_per_case": secs,
            "concurrency": n,
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "cpu_count": os.cpu_count(),
        }
        args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
