"""Where S2's tail comes from inside the server: survivors, commits, collections, loop lags.

Not a test: prints figures. One run per ``--synchronous`` value (FULL, the default, and
whatever else is asked), one after the other, each on a fresh migrated SQLite file:

1. starts ``order-service serve`` pinned to CPU 0 with a probe (in the server process):
   - the event store writer's commit times (``_Writer.write_batch``: the appends' own
     transaction, with its fsync at FULL) and the checkpoints it runs between batches;
   - every collection (generation, duration), and after each of the first young ones
     in the load window the types of what it moved to the middle generation: what the
     events leave alive for longer than a young collection's interval;
   - the event loop's lag (a 1 ms sleep that took 2 ms or more longer);
   all kept in memory and written once, after the load;
2. runs the harness's load generator pinned to CPU 1 (``--scenario S2``: 200 POST/s, 50
   kitchen subscribers);
3. prints the load generator's p50/p99s and the probe's figures.

usage: python bench/s2_probe.py [--synchronous FULL NORMAL] [--duration 15]
                                [--harness DIR] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gc_pauses import free_port, parse_with_load_arguments, probed_server, run_loadgen, serving

PROBE = """
import asyncio, collections, gc, json, os, sys, threading, time
import uvicorn
import infrastructure.event_store.sqlite as store
out, go = os.environ["S2_PROBE_OUT"], os.environ["S2_PROBE_OUT"] + ".go"
seen = {"commits": [], "checkpoints": [], "collections": [], "survivors": [], "lags": []}
def timed(cls, name, key):
    original = getattr(cls, name)
    def run(self, *args):
        at = time.monotonic()
        try:
            return original(self, *args)
        finally:
            seen[key].append((at, (time.monotonic() - at) * 1e3))
    setattr(cls, name, run)
timed(store._Writer, "write_batch", "commits")
timed(store._Writer, "checkpoint", "checkpoints")
started = {}
def collected(phase, info):
    generation = info["generation"]
    if phase == "start":
        started[generation] = time.monotonic()
        return
    at = started.pop(generation, time.monotonic())
    seen["collections"].append((at, generation, (time.monotonic() - at) * 1e3))
    if generation == 0 and os.path.exists(out + ".load") and len(seen["survivors"]) < 4:
        moved = gc.get_objects(generation=1)  # threshold 1: only this collection's survivors
        kinds = collections.Counter(type(o).__qualname__ for o in moved)
        seen["survivors"].append((at, len(moved), kinds.most_common(12)))
gc.callbacks.append(collected)
serve = uvicorn.Server.serve
async def serve_probed(self, *args, **kwargs):
    async def lag():
        while True:
            at = time.monotonic()
            await asyncio.sleep(0.001)
            late = (time.monotonic() - at) * 1e3 - 1
            if late >= 2:
                seen["lags"].append((at, late))
    task = asyncio.get_running_loop().create_task(lag())
    try:
        return await serve(self, *args, **kwargs)
    finally:
        task.cancel()
uvicorn.Server.serve = serve_probed
def write_when_asked():
    while not os.path.exists(go):
        time.sleep(0.2)
    with open(out + ".tmp", "w") as f:
        json.dump(seen, f)
    os.replace(out + ".tmp", out)
threading.Thread(target=write_when_asked, daemon=True).start()
"""


LOAD_FIGURES = ("http_p50_ms", "http_p99_ms", "e2e_p50_ms", "e2e_p99_ms")


def figures(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    if not ordered:
        return {"n": 0}
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered), 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
        "max_ms": round(ordered[-1], 2),
        "over_10_ms": sum(1 for v in ordered if v > 10),
    }


def one_run(args: argparse.Namespace, synchronous: str, workdir: Path) -> dict[str, Any]:
    port, out = free_port(), workdir / f"probe-{synchronous}.json"
    env = {
        "ORDER_SERVICE_SQLITE_SYNCHRONOUS": synchronous,
        "S2_PROBE_OUT": str(out),
        "S2_PROBE_PORT": str(port),
    }
    with probed_server(PROBE + serving("S2_PROBE_PORT"), workdir, env, port) as (server, base):
        Path(str(out) + ".load").touch()
        result, started, ended = run_loadgen(args, base, server.pid, f"probe/{synchronous}")
        Path(str(out) + ".go").touch()
        deadline = time.monotonic() + 30
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
    seen = json.loads(out.read_text())

    def during(rows: list[Any]) -> list[Any]:
        return [r for r in rows if started <= r[0] <= ended]

    collections = during(seen["collections"])
    return {
        "synchronous": synchronous,
        "load": {
            k: result.get(k) for k in ("http_p50_ms", "http_p99_ms", "e2e_p50_ms", "e2e_p99_ms")
        },
        "seconds": round(ended - started, 1),
        "commits": figures([ms for _, ms in during(seen["commits"])]),
        "checkpoints_on_the_writer": figures([ms for _, ms in during(seen["checkpoints"])]),
        "collections": {
            str(g): figures([ms for _, gen, ms in collections if gen == g]) for g in (0, 1, 2)
        },
        "loop_lags_2ms": figures([ms for _, ms in during(seen["lags"])]),
        "young_survivors": [
            {"objects": n, "kinds": kinds} for _, n, kinds in during(seen["survivors"])
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--synchronous", nargs="+", default=["FULL"])
    args = parse_with_load_arguments(parser, duration=15)
    runs = []
    with tempfile.TemporaryDirectory(prefix="s2-probe-") as tmp:
        for synchronous in args.synchronous:
            run = one_run(args, synchronous.upper(), Path(tmp))
            runs.append(run)
            print(f"synchronous={run['synchronous']} ({run['seconds']} s of load)")
            print(f"  load generator: {run['load']}")
            print(f"  commits (the appends' transactions): {run['commits']}")
            print(f"  checkpoints on the writer thread:    {run['checkpoints_on_the_writer']}")
            for generation, name in (("0", "young"), ("1", "middle"), ("2", "full")):
                print(f"  {name} collections: {run['collections'][generation]}")
            print(f"  event loop late by 2 ms or more:     {run['loop_lags_2ms']}")
            for survivors in run["young_survivors"]:
                kinds = ", ".join(f"{k} {n}" for k, n in survivors["kinds"][:8])
                print(f"  a young collection's survivors: {survivors['objects']} ({kinds})")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"duration_s": args.duration, "runs": runs}, indent=1)
        )


if __name__ == "__main__":
    sys.exit(main())
