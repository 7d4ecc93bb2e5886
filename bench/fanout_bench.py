"""Fan-out benchmark: end-to-end latency, POST sent -> ``order:created`` received.

Not a test: prints figures. For each subscriber count K (``--subscribers``, default 50 and
200) it runs the same open-loop load against two servers started as subprocesses, one
after the other, each on a fresh state:

  service   ``order-service serve`` on a fresh SQLite file (the real thing: event store,
            projector, read models, Socket.IO broadcaster), default settings
  ceiling   ``bench/ceiling_server.py``: FastAPI + python-socketio, orders in a dict, no
            persistence (the best this Python stack can do)

K python-socketio ``AsyncClient`` subscribers (websocket transport) join ``kitchen``; httpx
POSTs orders at ``--rate`` per second for ``--duration`` s (after ``--warmup`` s). Each
(order, subscriber) arrival is one sample, from the POST's *scheduled* send time (queueing in
the client counts). It prints p50/p99 of the end-to-end and HTTP latencies, deliveries, and
the service/ceiling ratios. Everything runs on 127.0.0.1; every loop and wait is bounded.

The subscribers run in this one Python process: keep ``rate x K`` within what it can
receive (~5-10k events/s); the client's own CPU share is printed. On a machine with two or
more CPUs the server is pinned to CPU 0 and this process to CPU 1.

usage: python bench/fanout_bench.py [--rate 20] [--subscribers 50,200] [--duration 8]
                                    [--warmup 2] [--port 8011] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import socketio
from _support import order_body, wait_ready

ROOT = Path(__file__).resolve().parents[1]
BODY = order_body("fanout bench")
READY_TIMEOUT = 20.0
DRAIN_TIMEOUT = 10.0


@dataclass
class Run:
    server: str
    subscribers: int
    sent: int = 0
    ok: int = 0
    errors: int = 0
    http_ms: list[float] = field(default_factory=list)
    e2e_ms: list[float] = field(default_factory=list)
    expected: int = 0
    received: int = 0
    client_cpu_pct: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "subscribers": self.subscribers,
            "sent": self.sent,
            "ok": self.ok,
            "errors": self.errors,
            "deliveries_expected": self.expected,
            "deliveries_received": self.received,
            "http_p50_ms": pct(self.http_ms, 50),
            "http_p99_ms": pct(self.http_ms, 99),
            "e2e_p50_ms": pct(self.e2e_ms, 50),
            "e2e_p99_ms": pct(self.e2e_ms, 99),
            "client_cpu_pct": round(self.client_cpu_pct, 1),
        }


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return round(ordered[index], 2)


def order_id_of(payload: Any) -> str | None:
    if not isinstance(payload, dict):
        return None
    order = payload.get("order")
    if isinstance(order, dict) and isinstance(order.get("id"), str):
        return order["id"]
    found = payload.get("order_id") or payload.get("id")
    return found if isinstance(found, str) else None


# --- servers -----------------------------------------------------------------------------


def _pin(cpu: int) -> Any:
    if not hasattr(os, "sched_setaffinity") or (os.cpu_count() or 1) < 2:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


@contextlib.contextmanager
def server_process(kind: str, port: int, workdir: Path) -> Any:
    env = dict(os.environ)
    if kind == "service":
        db = workdir / f"fanout-{port}.db"
        env["ORDER_SERVICE_DATABASE_URL"] = f"sqlite+aiosqlite:///{db}"
        env["ORDER_SERVICE_LOG_LEVEL"] = "warning"
        cli = shutil.which("order-service", path=str(Path(sys.executable).parent))
        if cli is None:
            raise SystemExit("order-service is not installed in this venv (make install)")
        subprocess.run([cli, "db", "upgrade"], env=env, check=True, capture_output=True)
        cmd = [cli, "serve", "--host", "127.0.0.1", "--port", str(port)]
    else:
        cmd = [sys.executable, str(ROOT / "bench" / "ceiling_server.py"), "--port", str(port)]
    log = (workdir / f"{kind}-{port}.log").open("wb")
    proc = subprocess.Popen(
        cmd, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_pin(0), cwd=ROOT
    )
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


# --- one run -----------------------------------------------------------------------------


async def run_one(kind: str, base: str, k: int, rate: float, duration: float, warmup: float) -> Run:
    run = Run(kind, k)
    arrivals: dict[str, list[float]] = {}
    clients: list[socketio.AsyncClient] = []

    def on_created(payload: Any) -> None:
        oid = order_id_of(payload)
        if oid is not None:
            arrivals.setdefault(oid, []).append(time.perf_counter())

    try:
        for _ in range(k):
            sio = socketio.AsyncClient(reconnection=False)
            sio.on("order:created", on_created)
            await asyncio.wait_for(sio.connect(base, transports=["websocket"]), 10)
            await asyncio.wait_for(sio.call("join:kitchen", {}), 10)
            clients.append(sio)
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:
            await _until_all_receive(http, arrivals, k)
            arrivals.clear()
            sent_at: dict[str, float] = {}
            tasks: list[asyncio.Task[None]] = []

            async def post(scheduled: float, measured: bool) -> None:
                try:
                    r = await http.post("/api/orders", json=BODY)
                    done = time.perf_counter()
                    oid = order_id_of(r.json()) if r.status_code // 100 == 2 else None
                except (httpx.HTTPError, ValueError):
                    oid, done = None, time.perf_counter()
                if not measured:
                    return
                if oid is None:
                    run.errors += 1
                    return
                run.ok += 1
                run.http_ms.append((done - scheduled) * 1000)
                sent_at[oid] = scheduled

            cpu0 = resource.getrusage(resource.RUSAGE_SELF)
            start = time.perf_counter()
            total = int((warmup + duration) * rate)
            for i in range(total):
                scheduled = start + i / rate
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                measured = i >= warmup * rate
                run.sent += measured
                tasks.append(asyncio.create_task(post(scheduled, measured)))
            cpu1 = resource.getrusage(resource.RUSAGE_SELF)
            run.client_cpu_pct = (
                100
                * (cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime)
                / max(1e-9, time.perf_counter() - start)
            )
            await asyncio.wait_for(asyncio.gather(*tasks), DRAIN_TIMEOUT + 30)
            run.expected = len(sent_at) * k
            deadline = time.monotonic() + DRAIN_TIMEOUT
            while time.monotonic() < deadline:
                if sum(len(arrivals.get(o, ())) for o in sent_at) >= run.expected:
                    break
                await asyncio.sleep(0.05)
            for oid, scheduled in sent_at.items():
                for arrived in arrivals.get(oid, ()):
                    run.e2e_ms.append((arrived - scheduled) * 1000)
            run.received = len(run.e2e_ms)
    finally:
        for sio in clients:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sio.disconnect(), 5)
    return run


async def _until_all_receive(
    http: httpx.AsyncClient, arrivals: dict[str, list[float]], k: int
) -> None:
    """Probe orders until one reaches every subscriber (joins are live), bounded."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        r = await http.post("/api/orders", json=BODY)
        oid = order_id_of(r.json())
        until = time.monotonic() + 2
        while time.monotonic() < until:
            if oid is not None and len(arrivals.get(oid, ())) >= k:
                return
            await asyncio.sleep(0.02)
    raise RuntimeError("subscribers never all received a probe order")


# --- main --------------------------------------------------------------------------------


async def bench(args: argparse.Namespace) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="fanout-bench-") as tmp:
        for k in args.subscribers:
            for i, kind in enumerate(("service", "ceiling")):
                port = args.port + i
                base = f"http://127.0.0.1:{port}"
                with server_process(kind, port, Path(tmp)) as proc:
                    await wait_ready(base, "/socket.io/?EIO=4&transport=polling", proc)
                    run = await run_one(kind, base, k, args.rate, args.duration, args.warmup)
                results.append(run.summary())
                print(_row(results[-1]), flush=True)
    return results


def _row(r: dict[str, Any]) -> str:
    return (
        f"{r['subscribers']:>4} {r['server']:<8} e2e p50 {r['e2e_p50_ms']!s:>8} ms "
        f"p99 {r['e2e_p99_ms']!s:>8} ms | http p50 {r['http_p50_ms']!s:>8} ms "
        f"p99 {r['http_p99_ms']!s:>8} ms | deliveries {r['deliveries_received']}/"
        f"{r['deliveries_expected']} errors {r['errors']} | client CPU {r['client_cpu_pct']} %"
    )


def ratios(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for k in sorted({r["subscribers"] for r in results}):
        pair = {r["server"]: r for r in results if r["subscribers"] == k}
        service, ceiling = pair.get("service"), pair.get("ceiling")
        if not service or not ceiling:
            continue
        row: dict[str, Any] = {"subscribers": k}
        for key in ("e2e_p50_ms", "e2e_p99_ms", "http_p50_ms", "http_p99_ms"):
            a, b = service[key], ceiling[key]
            row[key.replace("_ms", "_ratio")] = round(a / b, 2) if a and b else None
        out.append(row)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20.0, help="POST/s (open loop)")
    parser.add_argument(
        "--subscribers", type=lambda s: [int(x) for x in s.split(",")], default=[50, 200]
    )
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--port", type=int, default=8011, help="service port; ceiling +1")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if not 0 < args.rate <= 1000 or not 0 < args.duration <= 600 or args.warmup < 0:
        parser.error("need 0 < rate <= 1000, 0 < duration <= 600, warmup >= 0")
    if (os.cpu_count() or 1) >= 2 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {1})
    print(
        f"fan-out: {args.rate:g} POST/s, {args.duration:g} s (+{args.warmup:g} s warm-up), "
        f"subscribers {args.subscribers}; python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs"
    )
    results = asyncio.run(bench(args))
    print("\nservice / ceiling (same run; 1.0 = as fast as FastAPI + python-socketio alone):")
    table = ratios(results)
    for row in table:
        print(
            f"  K={row['subscribers']:>4}: e2e p50 x{row['e2e_p50_ratio']}  "
            f"e2e p99 x{row['e2e_p99_ratio']}  http p50 x{row['http_p50_ratio']}  "
            f"http p99 x{row['http_p99_ratio']}"
        )
    if args.json:
        args.json.write_text(json.dumps({"results": results, "ratios": table}, indent=2))


if __name__ == "__main__":
    main()
