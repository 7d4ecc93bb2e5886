"""The real ``Clock`` and ``IdGenerator``: the system's UTC time and UUIDs.

The ids the service stores (orders, items, events) are time-ordered UUIDs (version 7,
RFC 9562 §5.7): each is a B-tree key in several SQLite indexes (the events' ``event_id``
and ``(stream_id, stream_version)``, the read models' order and ticket keys), and
random keys put every insert on a random leaf page — one more page for the WAL (and its
checksum and fsync) per key per commit, and a working set as large as the index. Keys
that grow with time all land on the indexes' right-hand leaves, which one batch's commands
share. Correlation ids, which nothing indexes, stay random (version 4).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Final

_POOL_IDS: Final = 256
"""UUIDs drawn from one ``os.urandom`` call (4 KiB)."""


class SystemClock:
    """``domain.ports.Clock`` reading the system clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class _IdPool:
    """Random (version 4) UUIDs minted 256 at a time from one ``os.urandom`` call (4 KiB).

    A command mints several ids (order, items, events, correlation); one ``os.urandom``
    per id was a syscall per id (and, with the GIL released around it, a chance for the
    writer threads to take the interpreter mid-request), and formatting them one by one
    was ~4 % of a command's CPU. A batch sets the version and variant bits of all its
    16-byte draws with two slice assignments, turns the 4 KiB into hex once and cuts it
    into ids; taking one is a ``next`` on a list iterator (atomic under the GIL; two
    threads that find it empty at once each refill, and no id is handed out twice).
    """

    def __init__(self, canonical: bool, ids: int = _POOL_IDS) -> None:
        self._canonical = canonical
        self._size = 16 * ids
        self._ids: Iterator[str] = iter(())

    def take(self) -> str:
        try:
            return next(self._ids)
        except StopIteration:
            ids = self._mint()
            self._ids = ids
            return next(ids)

    def _mint(self) -> Iterator[str]:
        raw = bytearray(os.urandom(self._size))
        raw[6::16] = bytes((b & 0x0F) | 0x40 for b in raw[6::16])  # version 4
        raw[8::16] = bytes((b & 0x3F) | 0x80 for b in raw[8::16])  # variant 10
        return self._format(raw)

    def _format(self, raw: bytearray) -> Iterator[str]:
        h = raw.hex()
        if not self._canonical:
            return iter([h[i : i + 32] for i in range(0, len(h), 32)])
        return iter(
            [
                f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-{h[i + 12 : i + 16]}-"
                f"{h[i + 16 : i + 20]}-{h[i + 20 : i + 32]}"
                for i in range(0, len(h), 32)
            ]
        )


class _TimeOrderedPool(_IdPool):
    """Version 7 UUIDs minted 256 at a time: the Unix time in ms (48 bits), the version, a
    12-bit counter (RFC 9562 §6.2, method 1: ``rand_a`` as a counter, here the id's place
    in its pool), the variant and 62 random bits. Ids from one pool increase in the order
    they are taken; a later pool never reuses an earlier pool's time (it takes the next
    millisecond if the clock has not moved on), so one process's ids increase throughout.
    """

    def __init__(self, canonical: bool, ids: int = _POOL_IDS) -> None:
        if not 0 < ids <= 1 << 12:
            raise ValueError("a pool holds 1 to 4096 ids (the counter's 12 bits)")
        super().__init__(canonical, ids)
        self._count = ids
        self._last_ms = 0
        self._counter_high = bytes(0x70 | (i >> 8) for i in range(ids))  # version 7
        self._counter_low = bytes(i & 0xFF for i in range(ids))

    def _mint(self) -> Iterator[str]:
        ms = max(time.time_ns() // 1_000_000, self._last_ms + 1)
        self._last_ms = ms
        n = self._count
        raw = bytearray(os.urandom(self._size))
        for offset, byte in enumerate(ms.to_bytes(6, "big")):
            raw[offset::16] = bytes((byte,)) * n
        raw[6::16] = self._counter_high  # version 7 and the counter's high nibble
        raw[7::16] = self._counter_low
        raw[8::16] = bytes((b & 0x3F) | 0x80 for b in raw[8::16])  # variant 10
        return self._format(raw)


_HEX: Final = _IdPool(canonical=False)
_TIME_ORDERED: Final = _TimeOrderedPool(canonical=True)


def uuid4_hex() -> str:
    """A random (version 4, RFC 9562) UUID as 32 hex digits."""
    return _HEX.take()


def uuid7_str() -> str:
    """A time-ordered (version 7) UUID in its canonical 8-4-4-4-12 form."""
    return _TIME_ORDERED.take()


class UuidGenerator:
    """``domain.ports.IdGenerator`` giving time-ordered (version 7) UUID strings."""

    def new_id(self) -> str:
        return uuid7_str()
