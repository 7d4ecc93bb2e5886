"""Idle connections benchmark: the server's RSS per idle kitchen connection, and S2 with them.

Not a test: prints figures. The target it measures: N (default 5,000) idle kitchen
connections on one server process, at most 15 KB of RSS each, with S2's p99 unchanged
while they are connected.

Each rep:

1. Starts ``order-service serve`` pinned to CPU 0 (``taskset -c 0``) on a fresh, migrated
   SQLite file in a temporary directory, on a free port, log level ``warning`` (at
   ``info`` every connect and join is logged) -- or attaches to ``--base URL --pid PID``.
2. Warms it up (a few POSTs, a few rounds of connections opened and closed), lets it settle
   and reads its RSS (``/proc/PID/status`` VmRSS) and its CPU over 10 s.
3. Opens N idle connections, at most ``--concurrency`` at a time, within
   ``--connect-timeout`` s: raw websocket (``websockets``, not ``socketio.AsyncClient``),
   Engine.IO v4 / Socket.IO v5, each emits ``join:kitchen`` with an ack id and waits for
   the ack, then only answers the server's Engine.IO pings ("2" -> "3"; websocket-level
   pings are answered by ``websockets``). After ``--idle-window`` s (30: the server's idle
   CPU then includes a round of Engine.IO pings, which start 25 s after connecting) reads
   RSS and the server's idle CPU again.
4. With ``--s2``: runs the harness's load generator (S2: 200 POST/s, 50 subscribers)
   while the connections are held, and, on a second fresh server, the same S2 without
   them (in attach mode: on the same server after closing them). The order of the two
   alternates between reps. It prints both p99s (HTTP and end-to-end) and their ratio.
5. Holds the connections for what is left of ``--hold`` s, closes them, settles, reads
   RSS a last time.

Idle means idle: by default the connections join ``kitchen:idle`` (``--station idle``), a
station no S2 order has (the load generator's items are at grill, fryer and bar), so they
get no order events, only the room's ``room:position`` heartbeat (every 5 s) and the pings.
``--station ''`` joins the plain ``kitchen`` room, which gets *every* S2 order: that is not
idle (N x 200 deliveries/s), use it without ``--s2``.

The client runs in this process pinned to CPU 1, the load generator too (``--client-nice
19`` runs this process niced, the server and the load generator at the default priority,
so that the idle clients' answers to pings and heartbeats wait for the load generator
instead of delaying it). The started server
gets this process's environment: ``ORDER_SERVICE_*`` settings apply (e.g.
``ORDER_SERVICE_ROOM_POSITION_INTERVAL=3600`` takes the heartbeat out). ``GET /health`` is
probed every 20 ms during both idle windows (in a thread): its p99/max show the server's
event-loop stalls, e.g. while the heartbeat is written to all N sockets at once. Everything
runs on 127.0.0.1; every loop and wait is bounded.

usage: python bench/idle_bench.py [-n 5000] [--concurrency 200] [--hold 0] [--s2]
                                  [--reps 1] [--harness DIR] [--ws auto]
                                  [--uvicorn-config JSON] [--base URL --pid PID]
                                  [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import http.client
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from _support import median_of, order_body
from _support import wait_ready as _wait_ready
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).resolve().parents[1]
SERVER_CPU = 0
CLIENT_CPU = 1
STOP_TIMEOUT = 5.0
PER_CONNECTION_TIMEOUT = 30.0
CLOSE_TIMEOUT = 60.0
WARMUP_POSTS = 20
WARMUP_ROUNDS = 2
WARMUP_CONNECTIONS = 50
MAX_ARRIVALS = 200_000
BEFORE_WINDOW = 10.0
"""Seconds of the idle window with 0 connections (nothing periodic happens there)."""
BURST_GAP = 0.5
BODY = order_body("idle bench warm-up")
CLK_TCK = os.sysconf("SC_CLK_TCK")
BROWSER_HEADERS = [
    ("Origin", "http://localhost:5173"),
    ("Pragma", "no-cache"),
    ("Cache-Control", "no-cache"),
    ("Accept-Encoding", "gzip, deflate, br, zstd"),
    ("Accept-Language", "en-GB,en;q=0.9,fr;q=0.8"),
    ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"),
]
BROWSER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
"""What a browser's socket.io-client handshake adds (``--browser-headers``): the server keeps
the handshake headers of every connection (several copies), so real screens cost more."""

# A serve command with extra uvicorn.Config arguments (ws_max_size, ws_max_queue, ...):
# the same code path as ``order-service serve`` (build_server), for measuring settings the
# CLI does not expose. Only used with --uvicorn-config.
SERVE_WITH_CONFIG = """
import json, sys
from interfaces.cli import configure_logging, settings_or_exit
from interfaces.server import build_server
extra = json.loads(sys.argv[1])
settings = settings_or_exit()
configure_logging(settings.log_level)
server = build_server(settings, host="127.0.0.1", port=int(sys.argv[2]), ws=sys.argv[3], **extra)
server.run()
sys.exit(0 if server.started else 3)
"""


# --- /proc -------------------------------------------------------------------------------


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM, RssAnon and RssFile of ``pid`` in KB."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[key] = int(value.split()[0])
    return out


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def open_fds(pid: int) -> int | None:
    with contextlib.suppress(OSError):
        return len(os.listdir(f"/proc/{pid}/fd"))
    return None


async def cpu_pct_over(pid: int, seconds: float) -> float:
    c0, t0 = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(seconds)
    return round(100 * (cpu_seconds(pid) - c0) / max(1e-9, time.monotonic() - t0), 1)


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return round(ordered[index], 2)


def bursts(times: list[float]) -> dict[str, Any]:
    """The heartbeat reaches all N sockets in one go: how long each burst of arrivals lasts
    (first to last packet, gaps under ``BURST_GAP`` s), i.e. how long the server's event loop
    is busy writing it (POSTs arriving meanwhile wait)."""
    spans: list[float] = []
    sizes: list[int] = []
    start = prev = None
    count = 0
    for t in sorted(times):
        if start is None or prev is None or t - prev > BURST_GAP:
            if start is not None and prev is not None:
                spans.append((prev - start) * 1000)
                sizes.append(count)
            start, count = t, 0
        prev = t
        count += 1
    if start is not None and prev is not None:
        spans.append((prev - start) * 1000)
        sizes.append(count)
    big = [span for span, size in zip(spans, sizes, strict=True) if size >= 100]
    return {
        "bursts": len(big),
        "burst_ms_median": round(statistics.median(big), 1) if big else None,
        "burst_ms_max": round(max(big), 1) if big else None,
        "packets_per_burst": round(statistics.median([z for z in sizes if z >= 100]))
        if big
        else None,
    }


def probe_health(base: str, seconds: float, every: float = 0.02) -> dict[str, Any]:
    """``GET /health`` every ``every`` s for ``seconds`` (blocking: run it in a thread, so the
    idle clients' event loop does not delay it): the server's event-loop stalls."""
    host, _, port = base.removeprefix("http://").rstrip("/").partition(":")
    conn = http.client.HTTPConnection(host, int(port or 80), timeout=10)
    lat: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            try:
                conn.request("GET", "/health")
                conn.getresponse().read()
                lat.append((time.perf_counter() - t0) * 1000)
            except (OSError, http.client.HTTPException):
                errors += 1
                conn.close()
            time.sleep(max(0.0, every - (time.perf_counter() - t0)))
    finally:
        conn.close()
    return {
        "probes": len(lat),
        "p50_ms": pct(lat, 50),
        "p99_ms": pct(lat, 99),
        "max_ms": round(max(lat), 1) if lat else None,
        "errors": errors,
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def raise_fd_limit(needed: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def pinned(cpu: int) -> list[str]:
    """``taskset -c cpu`` (the process keeps its PID: taskset execs), if it makes sense."""
    if (os.cpu_count() or 1) >= 2 and shutil.which("taskset"):
        return ["taskset", "-c", str(cpu)]
    return []


# --- the server --------------------------------------------------------------------------


@dataclass
class Server:
    base: str
    pid: int
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None


@contextlib.contextmanager
def started_server(args: argparse.Namespace, workdir: Path, name: str) -> Any:
    """A fresh ``order-service serve`` on a migrated SQLite file, stopped (by PID) at exit."""
    port = args.port or free_port()
    env = dict(os.environ)
    env["ORDER_SERVICE_DATABASE_URL"] = f"sqlite+aiosqlite:///{workdir / (name + '.db')}"
    env["ORDER_SERVICE_LOG_LEVEL"] = args.log_level
    cli = shutil.which("order-service", path=str(Path(sys.executable).parent))
    if cli is None:
        raise SystemExit("order-service is not installed in this venv (make install)")
    subprocess.run([cli, "db", "upgrade"], env=env, check=True, capture_output=True, timeout=60)
    if args.uvicorn_config:
        cmd = [sys.executable, "-c", SERVE_WITH_CONFIG, args.uvicorn_config, str(port), args.ws]
    else:
        cmd = [cli, "serve", "--host", "127.0.0.1", "--port", str(port), "--ws", args.ws]
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            pinned(SERVER_CPU) + cmd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            preexec_fn=normal_priority,
        )
    try:
        yield Server(f"http://127.0.0.1:{port}", proc.pid, proc, log_path)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(STOP_TIMEOUT)


async def wait_ready(server: Server) -> None:
    await _wait_ready(server.base, "/health", server.proc, server.log)


async def runtime_info(server: Server) -> dict[str, Any]:
    with contextlib.suppress(httpx.HTTPError, ValueError):
        async with httpx.AsyncClient(trust_env=False) as client:
            r = await client.get(f"{server.base}/api/_runtime", timeout=5)
            info: dict[str, Any] = r.json()
            return info
    return {}


# --- idle connections --------------------------------------------------------------------


class JoinRefused(Exception):
    pass


@dataclass
class Idle:
    """N raw Engine.IO v4 / Socket.IO v5 websocket connections joined to a kitchen room."""

    base: str
    station: str
    browser: bool = False
    conns: list[ClientConnection] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    received: int = 0
    """Packets received after the join (room:position heartbeats, events)."""
    pings: int = 0
    dropped: int = 0
    """Connections the server closed while they were held."""
    closing: bool = False
    errors: Counter[str] = field(default_factory=Counter)
    join_ms: list[float] = field(default_factory=list)
    ack_bytes: int = 0
    arrivals: list[float] | None = None
    """Arrival times of the non-ping packets while recording (see ``bursts``)."""

    @property
    def url(self) -> str:
        host = self.base.removeprefix("http://").rstrip("/")
        return f"ws://{host}/socket.io/?EIO=4&transport=websocket"

    @property
    def join_packet(self) -> str:
        payload = {"station": self.station} if self.station else {}
        return "420" + json.dumps(["join:kitchen", payload], separators=(",", ":"))

    async def open(self, n: int, concurrency: int, timeout: float) -> float:
        """Open ``n`` more connections; the seconds it took. Failures are counted."""
        gate = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with gate:
                try:
                    await asyncio.wait_for(self._open_one(), PER_CONNECTION_TIMEOUT)
                except TimeoutError:
                    self.errors["timeout"] += 1
                except JoinRefused as exc:
                    self.errors[f"join refused: {exc}"[:120]] += 1
                except (OSError, ConnectionClosed, ValueError) as exc:
                    self.errors[type(exc).__name__] += 1

        start = time.perf_counter()
        pending = [asyncio.create_task(one()) for _ in range(n)]
        _, late = await asyncio.wait(pending, timeout=timeout)
        for task in late:
            task.cancel()
        if late:
            self.errors["overall connect timeout"] += len(late)
            await asyncio.wait(late, timeout=10)
        return time.perf_counter() - start

    async def _open_one(self) -> None:
        t0 = time.perf_counter()
        ws = await connect(
            self.url,
            compression=None,  # the service does not accept deflate by default anyway
            ping_interval=None,  # the server pings; websockets answers its pings
            close_timeout=2,
            open_timeout=PER_CONNECTION_TIMEOUT,
            max_queue=16,
            user_agent_header=BROWSER_AGENT if self.browser else None,
            additional_headers=BROWSER_HEADERS if self.browser else None,
            proxy=None,
        )
        try:
            opened = await ws.recv()
            if not isinstance(opened, str) or not opened.startswith("0"):
                raise ValueError(f"expected an Engine.IO open packet, got {opened!r:.80}")
            await ws.send("40")
            await self._expect(ws, "40")
            await ws.send(self.join_packet)
            ack = await self._expect(ws, "430")
            self.ack_bytes += len(ack)
            answer = json.loads(ack[3:])[0]
            if not isinstance(answer, dict) or answer.get("ok") is not True:
                raise JoinRefused(json.dumps(answer)[:100])
        except BaseException:
            ws.transport.abort()
            raise
        self.join_ms.append((time.perf_counter() - t0) * 1000)
        self.conns.append(ws)
        self.tasks.append(asyncio.create_task(self._idle(ws)))

    async def _expect(self, ws: ClientConnection, prefix: str) -> str:
        """The next packet starting with ``prefix``, answering pings meanwhile (bounded by
        the caller's timeout)."""
        while True:
            packet = await ws.recv()
            if not isinstance(packet, str):
                continue
            if packet == "2":
                await ws.send("3")
            elif packet.startswith(prefix):
                return packet
            elif packet.startswith("44") or packet.startswith("1"):
                raise JoinRefused(packet[:100])

    async def _idle(self, ws: ClientConnection) -> None:
        try:
            async for packet in ws:
                if packet == "2":
                    self.pings += 1
                    await ws.send("3")
                else:
                    self.received += 1
                    if self.arrivals is not None and len(self.arrivals) < MAX_ARRIVALS:
                        self.arrivals.append(time.monotonic())
        except ConnectionClosed:
            pass
        finally:
            if not self.closing:
                self.dropped += 1

    @property
    def open_count(self) -> int:
        return sum(1 for t in self.tasks if not t.done())

    async def close(self, concurrency: int) -> None:
        """Close every connection (a clean websocket close, aborted after 2 s), bounded."""
        self.closing = True
        gate = asyncio.Semaphore(concurrency)

        async def one(ws: ClientConnection) -> None:
            async with gate:
                try:
                    await asyncio.wait_for(ws.close(), 5)
                except Exception:
                    ws.transport.abort()

        closers = [asyncio.create_task(one(ws)) for ws in self.conns]
        if closers:
            _, late = await asyncio.wait(closers, timeout=CLOSE_TIMEOUT)
            for task in late:
                task.cancel()
        for ws in self.conns:
            if ws.transport is not None and not ws.transport.is_closing():
                ws.transport.abort()
        for task in self.tasks:
            task.cancel()
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=10)
        self.conns.clear()
        self.tasks.clear()


# --- the load generator ------------------------------------------------------------------


def normal_priority() -> None:
    """In a child (the server, the load generator): the default scheduling priority, even
    when this process runs niced (``--client-nice``)."""
    os.setpriority(os.PRIO_PROCESS, 0, 0)


@contextlib.contextmanager
def collector_paused() -> Any:
    """This process's cyclic collector frozen and off while S2 runs (both runs alike).

    The idle clients live in this process, pinned to the load generator's core. A full
    collection of their objects took 100-230 ms with 5,000 connections (seventh round, a
    ``gc.callbacks`` probe): it stalled the load generator, and S2's p99 "with" measured
    the client's pause, not the server's. ``--client-gc on`` does without it (A/B)."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


async def run_s2(args: argparse.Namespace, server: Server, label: str) -> dict[str, Any]:
    """One run of the harness's load generator; its JSON line (plus this process's CPU)."""
    loadgen = Path(args.harness) / "load" / "loadgen.mjs"
    node = shutil.which("node")
    if node is None or not loadgen.is_file():
        raise SystemExit(f"need node and {loadgen} (--harness / BENCH_HARNESS)")
    cmd = [
        *pinned(CLIENT_CPU),
        node,
        str(loadgen),
        "--base",
        server.base,
        "--rate",
        str(args.rate),
        "--subscribers",
        str(args.subscribers),
        "--duration",
        str(args.duration),
        "--warmup",
        str(args.warmup),
        "--server-pid",
        str(server.pid),
        "--label",
        label,
    ]
    # The load generator's own watchdog: connect 20 + 20 + warm-up + window + drain 10 + 20.
    limit = 20 + 20 + args.warmup + args.duration + 10 + 20 + 15
    own0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=normal_priority,
    )
    try:
        paused = args.client_gc == "paused"
        with collector_paused() if paused else contextlib.nullcontext():
            out, err = await asyncio.wait_for(proc.communicate(), limit)
    except TimeoutError:
        proc.kill()
        await asyncio.wait_for(proc.wait(), 5)
        return {"label": label, "error": f"load generator killed after {limit:.0f} s"}
    own1 = resource.getrusage(resource.RUSAGE_SELF)
    lines = [line for line in out.decode().splitlines() if line.startswith("{")]
    if not lines:
        return {"label": label, "error": "no JSON line", "stderr": err.decode()[-1000:]}
    result: dict[str, Any] = json.loads(lines[-1])
    own = own1.ru_utime + own1.ru_stime - own0.ru_utime - own0.ru_stime
    result["idle_client_cpu_pct"] = round(100 * own / max(1e-9, time.monotonic() - t0), 1)
    return result


def health_row(m: dict[str, Any]) -> str:
    h = m.get("health") or {}
    return (
        f"GET /health every 20 ms: p50/p99/max {h.get('p50_ms')}/{h.get('p99_ms')}/"
        f"{h.get('max_ms')} ms"
    )


def s2_row(r: dict[str, Any]) -> str:
    if "http_p99_ms" not in r:
        return f"  S2 {r.get('label')}: FAILED {r.get('error')} {r.get('stderr', '')}"
    return (
        f"  S2 {r['label']:<13} http p50/p99 {r['http_p50_ms']}/{r['http_p99_ms']} ms | "
        f"e2e p50/p99 {r['e2e_p50_ms']}/{r['e2e_p99_ms']} ms | http {r.get('http_rps')}/s "
        f"deliveries {r.get('fanout_received')}/{r.get('fanout_expected')} errors "
        f"{r.get('errors')} | server CPU {r.get('server_cpu_pct')} % | loadgen ELU "
        f"{r.get('loadgen_elu')} | idle client CPU {r.get('idle_client_cpu_pct')} %"
    )


# --- one rep -----------------------------------------------------------------------------


async def warm_up(server: Server, station: str, browser: bool) -> None:
    """A few POSTs and a few rounds of connections opened and closed, then nothing."""
    limits = httpx.Limits(max_connections=8)
    async with httpx.AsyncClient(base_url=server.base, limits=limits, trust_env=False) as http:
        for _ in range(WARMUP_POSTS):
            r = await http.post("/api/orders", json=BODY, timeout=10)
            if r.status_code // 100 != 2:
                raise RuntimeError(f"warm-up POST answered {r.status_code}: {r.text[:200]}")
    for _ in range(WARMUP_ROUNDS):
        idle = Idle(server.base, station, browser)
        await idle.open(WARMUP_CONNECTIONS, 50, 30)
        if idle.errors:
            raise RuntimeError(f"warm-up connections failed: {dict(idle.errors)}")
        await idle.close(50)


async def settle(server: Server, seconds: float, probe: bool = False) -> dict[str, Any]:
    """Wait, then the server's memory and its CPU over the last ``seconds`` (at least 1);
    with ``probe``, the latency of ``GET /health`` over that window too."""
    await asyncio.sleep(max(0.0, min(2.0, seconds / 2)))
    window = max(1.0, seconds - min(2.0, seconds / 2))
    if probe:
        health, cpu = await asyncio.gather(
            asyncio.to_thread(probe_health, server.base, window),
            cpu_pct_over(server.pid, window),
        )
    else:
        health, cpu = None, await cpu_pct_over(server.pid, window)
    out = {**memory_kb(server.pid), "cpu_pct": cpu, "fds": open_fds(server.pid)}
    if health is not None:
        out["health"] = health
    return out


async def with_idle(args: argparse.Namespace, server: Server, rep: int, s2: bool) -> dict[str, Any]:
    """Memory with 0 and N connections (and S2 while they are held) on ``server``."""
    out: dict[str, Any] = {"rep": rep, "runtime": await runtime_info(server)}
    rt = out["runtime"]
    print(
        f"  server {server.base} pid {server.pid} ({rt.get('ws_protocol', '?')}, "
        f"{rt.get('loop', rt.get('loop_setting', '?'))})",
        flush=True,
    )
    await warm_up(server, args.station, args.browser_headers)
    before = await settle(server, min(args.idle_window, BEFORE_WINDOW), probe=True)
    out["before"] = before
    print(
        f"  before: RSS {before['VmRSS'] / 1024:.1f} MB (anon {before['RssAnon'] / 1024:.1f}) "
        f"| idle CPU {before['cpu_pct']} % | fds {before['fds']} | {health_row(before)}",
        flush=True,
    )
    idle = Idle(server.base, args.station, args.browser_headers)
    try:
        seconds = await idle.open(args.connections, args.concurrency, args.connect_timeout)
        connected = len(idle.conns)
        out.update(
            connected=connected,
            connect_s=round(seconds, 2),
            connect_per_s=round(connected / seconds, 1) if seconds else None,
            join_p50_ms=pct(idle.join_ms, 50),
            join_p99_ms=pct(idle.join_ms, 99),
            ack_bytes_avg=round(idle.ack_bytes / connected) if connected else None,
            connect_errors=dict(idle.errors),
        )
        held_from = time.monotonic()
        print(
            f"  opened {connected}/{args.connections} in {seconds:.1f} s "
            f"({out['connect_per_s']}/s, join p50/p99 {out['join_p50_ms']}/"
            f"{out['join_p99_ms']} ms, ack {out['ack_bytes_avg']} B)"
            + (f" errors {dict(idle.errors)}" if idle.errors else ""),
            flush=True,
        )
        peak = memory_kb(server.pid)["VmHWM"]
        received0 = idle.received
        idle.arrivals = []
        after = await settle(server, args.idle_window, probe=True)
        out["after"] = after
        out["heartbeats_per_s"] = round((idle.received - received0) / args.idle_window, 1)
        out["heartbeat_bursts"] = bursts(idle.arrivals)
        idle.arrivals = None
        grown = after["VmRSS"] - before["VmRSS"]
        out["kb_per_connection"] = round(grown / connected, 2) if connected else None
        out["anon_kb_per_connection"] = (
            round((after["RssAnon"] - before["RssAnon"]) / connected, 2) if connected else None
        )
        out["hwm_during_connect_kb"] = peak
        print(
            f"  after:  RSS {after['VmRSS'] / 1024:.1f} MB (anon {after['RssAnon'] / 1024:.1f}) "
            f"| +{grown / 1024:.1f} MB = {out['kb_per_connection']} KB/connection "
            f"(anon {out['anon_kb_per_connection']}) | idle CPU {after['cpu_pct']} % "
            f"| packets to the idle clients {out['heartbeats_per_s']}/s | fds {after['fds']}",
            flush=True,
        )
        b = out["heartbeat_bursts"]
        print(
            f"  room:position bursts: {b['bursts']} of ~{b['packets_per_burst']} packets, each "
            f"arriving over {b['burst_ms_median']} ms (max {b['burst_ms_max']}) | "
            f"{health_row(after)}",
            flush=True,
        )
        if s2:
            out["s2_with"] = await run_s2(args, server, "with-idle")
            print(s2_row(out["s2_with"]), flush=True)
            out["after_s2"] = memory_kb(server.pid)
            out["still_open_after_s2"] = idle.open_count
        remaining = args.hold - (time.monotonic() - held_from)
        if remaining > 0:
            print(
                f"  holding {idle.open_count} connections for {remaining:.0f} s; e.g. taskset -c 1 "
                f"node {Path(args.harness) / 'load' / 'loadgen.mjs'} --base {server.base} "
                f"--rate 200 --subscribers 50 --duration 10 --warmup 3 --server-pid {server.pid}",
                flush=True,
            )
            await asyncio.sleep(remaining)
        out["held_s"] = round(time.monotonic() - held_from, 1)
        out["still_open"] = idle.open_count
        out["dropped_by_server"] = idle.dropped
        out["pings_answered"] = idle.pings
        out["held"] = memory_kb(server.pid)
    finally:
        t0 = time.perf_counter()
        await idle.close(args.concurrency)
        out["close_s"] = round(time.perf_counter() - t0, 2)
    closed = await settle(server, args.settle)
    out["closed"] = closed
    print(
        f"  held {out['held_s']} s, {out['still_open']} still open, {out['dropped_by_server']} "
        f"dropped by the server; closed in {out['close_s']} s -> RSS "
        f"{closed['VmRSS'] / 1024:.1f} MB (+{(closed['VmRSS'] - before['VmRSS']) / 1024:.1f} MB "
        f"over before) | fds {closed['fds']}",
        flush=True,
    )
    return out


async def without_idle(args: argparse.Namespace, server: Server) -> dict[str, Any]:
    await warm_up(server, args.station, args.browser_headers)
    await settle(server, args.settle)
    result = await run_s2(args, server, "without-idle")
    print(s2_row(result), flush=True)
    return result


async def one_rep(args: argparse.Namespace, rep: int, workdir: Path) -> dict[str, Any]:
    attached = args.base is not None
    # Alternate which S2 runs first (slow drift of a shared machine hits both alike).
    order = ["with", "without"] if rep % 2 == 0 else ["without", "with"]
    if attached:
        order = ["with", "without"]  # the same server: "without" sees a larger board
    if not args.s2:
        order = ["with"]
    out: dict[str, Any] = {}
    for phase in order:
        print(f"rep {rep + 1}/{args.reps}: {phase} idle connections", flush=True)
        with contextlib.ExitStack() as stack:
            if attached:
                server = Server(args.base.rstrip("/"), args.pid)
            else:
                server = stack.enter_context(started_server(args, workdir, f"rep{rep}-{phase}"))
            await wait_ready(server)
            if phase == "with":
                out.update(await with_idle(args, server, rep, args.s2))
            else:
                out["s2_without"] = await without_idle(args, server)
    if args.s2:
        out["p99_ratio"] = ratios(out.get("s2_without", {}), out.get("s2_with", {}))
        print(f"  with/without: {out['p99_ratio']}", flush=True)
    return out


def ratios(without: dict[str, Any], with_: dict[str, Any]) -> dict[str, float | None]:
    row: dict[str, float | None] = {}
    for key in ("http_p50_ms", "http_p99_ms", "e2e_p50_ms", "e2e_p99_ms"):
        a, b = with_.get(key), without.get(key)
        row[key.replace("_ms", "_x")] = round(a / b, 2) if a and b else None
    return row


def summary(reps: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    m = {
        "connections_asked": args.connections,
        "connected": median_of(reps, "connected"),
        "connect_s": median_of(reps, "connect_s"),
        "rss_before_mb": _mb(median_of(reps, "before", "VmRSS")),
        "rss_with_mb": _mb(median_of(reps, "after", "VmRSS")),
        "rss_after_close_mb": _mb(median_of(reps, "closed", "VmRSS")),
        "kb_per_connection": median_of(reps, "kb_per_connection"),
        "anon_kb_per_connection": median_of(reps, "anon_kb_per_connection"),
        "idle_cpu_pct_before": median_of(reps, "before", "cpu_pct"),
        "idle_cpu_pct_with": median_of(reps, "after", "cpu_pct"),
        "heartbeat_burst_ms": median_of(reps, "heartbeat_bursts", "burst_ms_median"),
        "health_p99_ms_before": median_of(reps, "before", "health", "p99_ms"),
        "health_max_ms_before": median_of(reps, "before", "health", "max_ms"),
        "health_p99_ms_with": median_of(reps, "after", "health", "p99_ms"),
        "health_max_ms_with": median_of(reps, "after", "health", "max_ms"),
    }
    if args.s2:
        for which in ("without", "with"):
            for key in ("http_p50_ms", "http_p99_ms", "e2e_p50_ms", "e2e_p99_ms"):
                m[f"s2_{which}_{key}"] = median_of(reps, f"s2_{which}", key)
            m[f"s2_{which}_server_cpu_pct"] = median_of(reps, f"s2_{which}", "server_cpu_pct")
        for key in ("http_p99_x", "e2e_p99_x"):
            m[key] = median_of(reps, "p99_ratio", key)
    return m


def _mb(kb: float | None) -> float | None:
    return round(kb / 1024, 1) if kb is not None else None


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    reps: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="idle-bench-") as tmp:
        for rep in range(args.reps):
            reps.append(await one_rep(args, rep, Path(tmp)))
    return {
        "client_gc": args.client_gc,
        "client_nice": args.client_nice,
        "reps": reps,
        "median": summary(reps, args),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("-n", "--connections", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=200, help="connections opening")
    parser.add_argument("--connect-timeout", type=float, default=180.0, help="for all of them")
    parser.add_argument("--hold", type=float, default=0.0, help="seconds to keep them open")
    parser.add_argument("--station", default="idle", help="'' = the plain kitchen room")
    parser.add_argument(
        "--browser-headers", action="store_true", help="handshake headers like a browser's"
    )
    parser.add_argument(
        "--idle-window",
        type=float,
        default=30.0,
        help="s with the N connections before RSS and idle CPU are read; 30 s covers one "
        "Engine.IO ping round (the first pings come ping_interval = 25 s after connecting)",
    )
    parser.add_argument("--settle", type=float, default=3.0, help="before the last RSS, s")
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--s2", action="store_true", help="run S2 without and with them")
    parser.add_argument(
        "--client-gc",
        choices=("paused", "on"),
        default="paused",
        help="this process's collector during S2 (on: its full collections of the idle "
        "clients stall the load generator on their shared core)",
    )
    parser.add_argument(
        "--client-nice",
        type=int,
        default=0,
        help="this process's nice value (the idle clients share the load generator's core; "
        "at 19 their ping and heartbeat handling yields to it). Needs root below 0 for the "
        "children, which run at 0",
    )
    parser.add_argument(
        "--harness", default=os.environ.get("BENCH_HARNESS", "/work/benchrun"), help="bench dir"
    )
    parser.add_argument("--rate", type=float, default=200.0, help="S2 POST/s")
    parser.add_argument("--subscribers", type=int, default=50, help="S2 subscribers")
    parser.add_argument("--duration", type=float, default=10.0, help="S2 window, s")
    parser.add_argument("--warmup", type=float, default=3.0, help="S2 warm-up, s")
    parser.add_argument("--base", default=None, help="attach to a running server (with --pid)")
    parser.add_argument("--pid", type=int, default=None, help="its PID (for RSS and CPU)")
    parser.add_argument("--port", type=int, default=0, help="0 = a free port")
    parser.add_argument("--ws", default="auto", help="uvicorn websocket implementation")
    parser.add_argument(
        "--uvicorn-config", default=None, help='extra uvicorn.Config JSON, e.g. {"ws_max_queue": 4}'
    )
    parser.add_argument("--log-level", default="warning", help="the started server's")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if (args.base is None) != (args.pid is None):
        parser.error("--base and --pid go together")
    if args.base is not None and not args.base.startswith("http://127.0.0.1"):
        parser.error("only http://127.0.0.1 servers")
    if not 1 <= args.connections <= 15_000 or not 1 <= args.concurrency <= 1000:
        parser.error("need 1 <= connections <= 15000 and 1 <= concurrency <= 1000")
    if not 1 <= args.reps <= 10 or not 0 <= args.hold <= 3600 or args.idle_window < 1:
        parser.error("need 1 <= reps <= 10, 0 <= hold <= 3600, idle-window >= 1")
    if args.uvicorn_config:
        json.loads(args.uvicorn_config)
    limit = raise_fd_limit(args.connections + 2 * WARMUP_CONNECTIONS + 1000)
    if limit < args.connections + 200:
        parser.error(f"the file-descriptor limit ({limit}) is too low for {args.connections}")
    if (os.cpu_count() or 1) >= 2 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {CLIENT_CPU})
    if args.client_nice:
        os.setpriority(os.PRIO_PROCESS, 0, args.client_nice)
    print(
        f"idle connections: {args.connections} x join:kitchen "
        f"{args.station or '(plain kitchen room)'}, {args.concurrency} at a time"
        f"{', browser headers' if args.browser_headers else ''}, "
        f"reps {args.reps}{', S2 without/with' if args.s2 else ''}; ws={args.ws}"
        f"{' ' + args.uvicorn_config if args.uvicorn_config else ''}; python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs, fd limit {limit}",
        flush=True,
    )
    result = asyncio.run(bench(args))
    print("\nmedians over reps:")
    for key, value in result["median"].items():
        print(f"  {key:<28} {value}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
