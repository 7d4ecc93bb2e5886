"""Process settings for long replays, applied only while one runs."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

GEN0_THRESHOLD: Final = 200_000


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Run the cyclic garbage collector rarely, and never over what existed before.

    A replay allocates millions of short-lived objects beside a large, long-lived cache of
    orders; with the default thresholds the collector walks that cache again and again
    (about half the time of a 300,000-event rebuild in ``bench/replay_bench.py``). The
    replay's objects form almost no cycles, so collecting rarely costs little memory.
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(GEN0_THRESHOLD, thresholds[1], thresholds[2])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


HANDOFF_SECONDS: Final = 0.0001


@contextmanager
def prompt_handoffs() -> Iterator[None]:
    """Let a thread that waits for the GIL have it within ``HANDOFF_SECONDS`` (default 5 ms).

    A rebuild's batch is written by a thread while the event loop's thread folds the next
    one; the writer needs the GIL between its statements (a dozen a batch) and would wait
    up to the default interval for each, so the write could end well after the fold.
    """
    interval = sys.getswitchinterval()
    sys.setswitchinterval(HANDOFF_SECONDS)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


CACHE_KIB: Final = 131_072
"""SQLite page cache of a rebuild's connections (the default 2 MiB thrashes on big tables)."""

SECURE_DELETE: Final = "PRAGMA secure_delete = FAST"
"""Deleted read-model rows are not overwritten with zeros when that costs extra writes.

Some SQLite builds (Debian's among them) default to ``secure_delete = ON``: truncating
the read models of 60,000 events then wrote 11 MB of zeroed pages (half of a rebuild's
reset), and dropping a swapped-out table zeroes every page of it. Whatever a rebuild
deletes is derived from the events, which stay in the same file."""

WRITER_PRAGMAS: Final = (
    f"PRAGMA cache_size = -{CACHE_KIB}",
    "PRAGMA temp_store = MEMORY",
    SECURE_DELETE,
    # as the read models' engine: they are rebuilt from the events, their checkpoint commits
    # with them
    "PRAGMA synchronous = NORMAL",
)
"""Settings of a connection that writes read models in bulk (a rebuild's)."""
