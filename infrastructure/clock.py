"""The real ``Clock`` and ``IdGenerator``: the system's UTC time and random UUIDs."""

from __future__ import annotations

import os
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


_HEX: Final = _IdPool(canonical=False)
_CANONICAL: Final = _IdPool(canonical=True)


def uuid4_hex() -> str:
    """A random (version 4, RFC 9562) UUID as 32 hex digits."""
    return _HEX.take()


def uuid4_str() -> str:
    """A random (version 4) UUID in its canonical 8-4-4-4-12 form."""
    return _CANONICAL.take()


class UuidGenerator:
    """``domain.ports.IdGenerator`` giving random (version 4) UUID strings."""

    def new_id(self) -> str:
        return uuid4_str()
