"""Join bursts: a restaurant's screens reconnecting at once, each joining with a snapshot.

Starts ``order-service serve`` (pinned to CPU 0, as the other benches) on a fresh SQLite
file, places ``--orders`` live orders, opens ``--screens`` raw WebSocket connections
(Engine.IO and Socket.IO connected, no room yet), then, for each room, has every screen
send its join at once and waits for every ack (each carries the room's snapshot). Then the
same joins again one after another. Prints the server's CPU time per join for both and
their ratio (below 1: the burst's joins share work; ``resume.py`` shares a room's snapshot
read among the joins that arrive while it runs), and the wall time until the last ack.

    .venv/bin/python bench/join_burst.py                 # 500 screens, 300 orders
    .venv/bin/python bench/join_burst.py --screens 50 --json results.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from _support import order_body
from idle_bench import (
    Server,
    cpu_seconds,
    free_port,
    raise_fd_limit,
    started_server,
    wait_ready,
)
from websockets.asyncio.client import ClientConnection, connect

ROOMS = {"orders": ["join:orders", {}], "kitchen": ["join:kitchen", {}]}
ACK_TIMEOUT = 120.0


async def place_orders(base: str, count: int) -> None:
    async with httpx.AsyncClient(base_url=base, trust_env=False, timeout=30) as http:
        for n in range(count):
            response = await http.post("/api/orders", json=order_body(f"burst {n}"))
            response.raise_for_status()


async def open_screen(base: str) -> ClientConnection:
    host = base.removeprefix("http://")
    ws = await connect(
        f"ws://{host}/socket.io/?EIO=4&transport=websocket",
        compression=None,
        ping_interval=None,
        max_size=None,
        proxy=None,
    )
    opened = await ws.recv()
    assert isinstance(opened, str) and opened.startswith("0"), opened
    await ws.send("40")
    while not str(await ws.recv()).startswith("40"):
        pass
    return ws


async def join(ws: ClientConnection, packet: str) -> int:
    """Send the join, wait for its ack (answering pings); the ack's size."""
    await ws.send(packet)
    while True:
        message = await ws.recv()
        if message == "2":
            await ws.send("3")
        elif isinstance(message, str) and message.startswith("430"):
            if not message.startswith('430[{"ok":true'):
                raise RuntimeError(f"join refused: {message[:200]}")
            return len(message)


async def measure(server: Server, screens: list[ClientConnection], room: str) -> dict[str, Any]:
    packet = "420" + json.dumps(ROOMS[room], separators=(",", ":"))
    cpu0, start = cpu_seconds(server.pid), time.perf_counter()
    sizes = await asyncio.wait_for(
        asyncio.gather(*(join(ws, packet) for ws in screens)), ACK_TIMEOUT
    )
    burst_wall, burst_cpu = time.perf_counter() - start, cpu_seconds(server.pid) - cpu0
    cpu0, start = cpu_seconds(server.pid), time.perf_counter()
    for ws in screens:
        await asyncio.wait_for(join(ws, packet), ACK_TIMEOUT)
    one_wall, one_cpu = time.perf_counter() - start, cpu_seconds(server.pid) - cpu0
    n = len(screens)
    return {
        "room": room,
        "screens": n,
        "ack_kb": round(sum(sizes) / n / 1024, 1),
        "burst_wall_s": round(burst_wall, 3),
        "burst_cpu_ms_per_join": round(burst_cpu / n * 1000, 3),
        "sequential_wall_s": round(one_wall, 3),
        "sequential_cpu_ms_per_join": round(one_cpu / n * 1000, 3),
        "ratio_burst_to_sequential": round(burst_cpu / one_cpu, 3) if one_cpu else None,
    }


async def run(args: argparse.Namespace, workdir: Path) -> list[dict[str, Any]]:
    raise_fd_limit(args.screens + 256)
    with started_server(args, workdir, "join-burst") as server:
        await wait_ready(server)
        await place_orders(server.base, args.orders)
        screens = [await open_screen(server.base) for _ in range(args.screens)]
        try:
            return [await measure(server, screens, room) for room in args.rooms]
        finally:
            for ws in screens:
                with contextlib.suppress(Exception):
                    await ws.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--screens", type=int, default=500)
    parser.add_argument("--orders", type=int, default=300, help="live orders in the snapshots")
    parser.add_argument("--rooms", nargs="+", choices=sorted(ROOMS), default=["orders", "kitchen"])
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    # what idle_bench's started_server reads
    args.port, args.log_level, args.uvicorn_config, args.ws = free_port(), "warning", None, "auto"
    with tempfile.TemporaryDirectory(prefix="join-burst-") as tmp:
        results = asyncio.run(run(args, Path(tmp)))
    print(
        f"{'room':8} {'screens':>7} {'ack KB':>7} {'burst s':>8} {'burst CPU ms/join':>18} "
        f"{'one-by-one s':>13} {'one-by-one CPU ms/join':>23} {'ratio':>6}"
    )
    for r in results:
        print(
            f"{r['room']:8} {r['screens']:>7} {r['ack_kb']:>7} {r['burst_wall_s']:>8} "
            f"{r['burst_cpu_ms_per_join']:>18} {r['sequential_wall_s']:>13} "
            f"{r['sequential_cpu_ms_per_join']:>23} {r['ratio_burst_to_sequential']:>6}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
