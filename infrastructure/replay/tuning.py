"""Process settings for long replays, applied only while one runs."""

from __future__ import annotations

import gc
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
