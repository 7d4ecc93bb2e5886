"""The cyclic collector's pauses under load, for several GC thresholds side by side.

Not a test: prints figures. Each rep, for each ``--thresholds`` (default: the service's
own, ``interfaces.server.GC_THRESHOLDS``, and the 50,000/50/1,000 it used before):

1. starts ``order-service serve`` pinned to CPU 0 (``taskset -c 0``) on a fresh, migrated
   SQLite file, log level ``warning``, with those thresholds and a probe: a
   ``gc.callbacks`` hook that times every collection (its generation, its duration, the
   monotonic clock at its start) and writes them to a file every second;
2. runs the harness's load generator pinned to CPU 1 (``--scenario S2``: 200 POST/s and 50
   kitchen subscribers; ``S1``: 32 closed-loop POS clients, no subscribers);
3. stops the server and keeps the collections that started while the load ran.

It prints, per thresholds: the load generator's figures (POST/s, HTTP and end-to-end p99)
and the collections per generation (count, median, max, total ms), medians over the reps.
The configurations alternate within each rep; compare them only within one run.

usage: python bench/gc_pauses.py [--scenario S2] [--thresholds 20000,2,10000 ...]
                                 [--reps 2] [--duration 20] [--harness DIR] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _support import median_of

HERE = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SCENARIOS = {
    "S1": ["--concurrency", "32", "--subscribers", "0"],
    "S2": ["--rate", "200", "--subscribers", "50"],
}
OLD_THRESHOLDS = (50_000, 50, 1_000)

# Runs in the server: override the serving thresholds, time every collection.
PROBE = """
import gc, json, os, sys, threading, time
import interfaces.server
interfaces.server.GC_THRESHOLDS = tuple(json.loads(os.environ["GC_PAUSES_THRESHOLDS"]))
out, seen, started = os.environ["GC_PAUSES_OUT"], [], {}
def timed(phase, info):
    generation = info["generation"]
    if phase == "start":
        started[generation] = time.monotonic()
    else:
        at = started.pop(generation, None)
        if at is not None:
            seen.append((at, generation, (time.monotonic() - at) * 1e3))
gc.callbacks.append(timed)
def flush():
    while True:
        time.sleep(1)
        with open(out + ".tmp", "w") as f:
            json.dump(seen, f)
        os.replace(out + ".tmp", out)
threading.Thread(target=flush, daemon=True).start()
"""


def serving(port_variable: str) -> str:
    """The end of a probe's source: serve the app on the port in ``port_variable``."""
    return f"""
from interfaces.cli import main
port = os.environ["{port_variable}"]
sys.argv = ["order-service", "serve", "--host", "127.0.0.1", "--port", port]
main()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu)] if (os.cpu_count() or 1) > cpu else []


def wait_ready(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    tail = log.read_text(errors="replace")[-2000:]
    raise SystemExit(f"the server did not start (exit {process.poll()}):\n{tail}")


@contextlib.contextmanager
def probed_server(
    probe: str, workdir: Path, env: dict[str, str], port: int
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``order-service serve`` run by ``probe`` (Python source, given ``env`` and the port
    in ``env``) pinned to CPU 0, on a fresh migrated SQLite file; the process and its URL.
    Stopped (SIGTERM) on exit."""
    db = workdir / f"probed-{time.monotonic_ns()}.db"
    env = {
        **os.environ,
        "ORDER_SERVICE_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "ORDER_SERVICE_LOG_LEVEL": "warning",
        **env,
    }
    subprocess.run(
        [str(BIN / "order-service"), "db", "upgrade"], env=env, check=True, capture_output=True
    )
    log = workdir / "server.log"
    server = subprocess.Popen(
        [*pinned(0), str(BIN / "python"), "-c", probe],
        env={**env, "PYTHONPATH": str(HERE)},
        cwd=HERE,
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, server, log)
        yield server, base
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def run_loadgen(
    args: argparse.Namespace, base: str, server_pid: int, label: str
) -> tuple[dict[str, Any], float, float]:
    """The harness's load generator (``args.scenario``, ``args.duration``) pinned to CPU 1
    against ``base``: its JSON result, and when it started and ended (monotonic)."""
    started = time.monotonic()
    loadgen = subprocess.run(
        [
            *pinned(1),
            "node",
            "load/loadgen.mjs",
            "--base",
            base,
            *SCENARIOS[args.scenario],
            "--duration",
            str(args.duration),
            "--warmup",
            "3",
            "--drain",
            "2",
            "--server-pid",
            str(server_pid),
            "--label",
            label,
        ],
        cwd=args.harness,
        capture_output=True,
        text=True,
        timeout=args.duration + 120,
    )
    ended = time.monotonic()
    lines = [line for line in loadgen.stdout.splitlines() if line.startswith("{")]
    return (json.loads(lines[-1]) if lines else {}), started, ended


def parse_with_load_arguments(
    parser: argparse.ArgumentParser, *, duration: int
) -> argparse.Namespace:
    """``parser``'s arguments plus those of a run of the harness's load generator
    (``--scenario``, ``--duration``, ``--harness``, ``--json``), parsed; exits when the
    harness has no load generator."""
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="S2")
    parser.add_argument("--duration", type=int, default=duration)
    parser.add_argument("--harness", default=os.environ.get("HARNESS", "/work/benchrun"))
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if not (Path(args.harness) / "load" / "loadgen.mjs").exists():
        raise SystemExit(f"no load generator under {args.harness} (set --harness)")
    return args


def one_run(args: argparse.Namespace, thresholds: tuple[int, ...], workdir: Path) -> dict[str, Any]:
    port, out = free_port(), workdir / "collections.json"
    out.unlink(missing_ok=True)
    env = {
        "GC_PAUSES_THRESHOLDS": json.dumps(list(thresholds)),
        "GC_PAUSES_OUT": str(out),
        "GC_PAUSES_PORT": str(port),
    }
    with probed_server(PROBE + serving("GC_PAUSES_PORT"), workdir, env, port) as (server, base):
        result, started, ended = run_loadgen(args, base, server.pid, f"gc/{thresholds}")
        time.sleep(1.5)  # one more flush of the probe's file
    collections = [c for c in json.loads(out.read_text()) if started <= c[0] <= ended]
    by_generation: dict[str, Any] = {}
    for generation in (0, 1, 2):
        ms = sorted(c[2] for c in collections if c[1] == generation)
        by_generation[str(generation)] = {
            "n": len(ms),
            "median_ms": round(statistics.median(ms), 2) if ms else None,
            "max_ms": round(ms[-1], 2) if ms else None,
            "total_ms": round(sum(ms), 1),
        }
    return {
        "thresholds": list(thresholds),
        "ok_per_s": result.get("commands_ok_per_s"),
        "http_p99_ms": result.get("http_p99_ms"),
        "e2e_p99_ms": result.get("e2e_p99_ms"),
        "server_cpu_pct": result.get("server_cpu_pct"),
        "seconds": round(ended - started, 1),
        "collections": by_generation,
    }


def main() -> None:
    from interfaces.server import GC_THRESHOLDS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--thresholds", action="append", default=None, help="a,b,c (repeat for each configuration)"
    )
    parser.add_argument("--reps", type=int, default=2)
    args = parse_with_load_arguments(parser, duration=20)
    configs = (
        [tuple(int(x) for x in t.split(",")) for t in args.thresholds]
        if args.thresholds
        else [tuple(GC_THRESHOLDS), OLD_THRESHOLDS]
    )
    runs: dict[tuple[int, ...], list[dict[str, Any]]] = {c: [] for c in configs}
    with tempfile.TemporaryDirectory(prefix="gc-pauses-") as tmp:
        for rep in range(args.reps):
            order = configs[rep % len(configs) :] + configs[: rep % len(configs)]
            for config in order:
                run = one_run(args, config, Path(tmp))
                runs[config].append(run)
                print(f"rep {rep + 1} {config}: {json.dumps(run)}", file=sys.stderr)
    print(
        f"{args.scenario}, medians of {args.reps}: collections during the load "
        "(n, median ms / max ms)"
    )
    print(
        f"{'thresholds':>20} {'ok/s':>8} {'http p99':>9} {'e2e p99':>8}  "
        f"{'young':>18} {'middle':>18} {'full':>14}"
    )
    for config, config_runs in runs.items():
        cells = []
        for generation in "012":
            n = median_of(config_runs, "collections", generation, "n")
            cells.append(
                f"{n:g}: {median_of(config_runs, 'collections', generation, 'median_ms')}"
                f"/{median_of(config_runs, 'collections', generation, 'max_ms')}"
            )
        ok, http, e2e = (
            median_of(config_runs, key) for key in ("ok_per_s", "http_p99_ms", "e2e_p99_ms")
        )
        print(
            f"{','.join(map(str, config)):>20} {ok!s:>8} {http!s:>9} {e2e!s:>8}  "
            f"{cells[0]:>18} {cells[1]:>18} {cells[2]:>14}"
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "scenario": args.scenario,
                    "reps": args.reps,
                    "duration_s": args.duration,
                    "runs": [r for rs in runs.values() for r in rs],
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
