"""What the project's standalone benchmarks share: a sample order and waiting for a server.

Imported by the scripts in this folder (``python bench/<script>.py`` puts it on the path).
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

READY_TIMEOUT = 20.0


def order_body(notes: str) -> dict[str, Any]:
    """A dine-in order of one grill item: what the shared load harness posts too."""
    return {
        "order_type": "dine_in",
        "table_number": 7,
        "items": [
            {
                "menu_item_id": "m-3",
                "name": "Item 3",
                "quantity": 2,
                "unit_price": 575,
                "station": "grill",
            }
        ],
        "notes": notes,
    }


async def wait_ready(
    base: str,
    path: str,
    proc: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
    timeout: float = READY_TIMEOUT,
) -> None:
    """Until ``GET base+path`` answers 200; raises if ``proc`` exits first (with the tail of
    ``log``) or after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(trust_env=False) as client:
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}:\n{_tail(log)}")
            with contextlib.suppress(httpx.HTTPError):
                r = await client.get(f"{base}{path}", timeout=1)
                if r.status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{base} not ready after {timeout} s")


def _tail(log: Path | None) -> str:
    return log.read_text()[-2000:] if log is not None and log.exists() else ""


def median_of(reps: list[dict[str, Any]], *path: str) -> float | None:
    """The median (2 decimals) of the number at ``path`` in each rep's dict; None if none."""
    values = []
    for rep in reps:
        value: Any = rep
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, int | float):
            values.append(float(value))
    return round(statistics.median(values), 2) if values else None
