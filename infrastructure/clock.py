"""The real ``Clock`` and ``IdGenerator``: the system's UTC time and random UUIDs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime


class SystemClock:
    """``domain.ports.Clock`` reading the system clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class UuidGenerator:
    """``domain.ports.IdGenerator`` giving random (version 4) UUID strings."""

    def new_id(self) -> str:
        return str(uuid.uuid4())
