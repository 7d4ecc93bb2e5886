"""The real ``Clock`` and ``IdGenerator``: the system's UTC time and random UUIDs."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from typing import Final

_POOL_IDS: Final = 256
"""UUIDs drawn from one ``os.urandom`` call (4 KiB)."""


class SystemClock:
    """``domain.ports.Clock`` reading the system clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class _RandomPool:
    """16-byte draws from the OS's CSPRNG, read 4 KiB at a time.

    A command mints several ids (order, items, events); one ``os.urandom`` per id was a
    syscall per id (and, with the GIL released around it, a chance for the writer threads
    to take the interpreter mid-request). The bytes are the same CSPRNG output, sliced.
    """

    def __init__(self, ids: int = _POOL_IDS) -> None:
        self._size = 16 * ids
        self._buffer = b""
        self._offset = 0
        self._lock = threading.Lock()

    def draw(self) -> bytearray:
        with self._lock:
            if self._offset >= len(self._buffer):
                self._buffer = os.urandom(self._size)
                self._offset = 0
            start = self._offset
            self._offset = start + 16
            return bytearray(self._buffer[start : start + 16])


_POOL: Final = _RandomPool()


def uuid4_hex() -> str:
    """A random (version 4, RFC 9562) UUID as 32 hex digits."""
    raw = _POOL.draw()
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # variant 10
    return raw.hex()


def uuid4_str() -> str:
    """A random (version 4) UUID in its canonical 8-4-4-4-12 form."""
    h = uuid4_hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class UuidGenerator:
    """``domain.ports.IdGenerator`` giving random (version 4) UUID strings."""

    def new_id(self) -> str:
        return uuid4_str()
