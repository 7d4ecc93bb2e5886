"""How long-running replay work reports progress, without knowing who displays it.

The CLI passes a ``Progress`` that draws rich progress bars; code and tests that do not
care pass nothing and get ``NO_PROGRESS``.
"""

from __future__ import annotations

from typing import Final, Protocol


class Task(Protocol):
    def advance(self, amount: int) -> None: ...

    def total(self, total: int | None) -> None:
        """Change the expected total (a rebuild's target moves while the server writes)."""
        ...


class Progress(Protocol):
    def task(self, description: str, total: int | None = None) -> Task:
        """A new bar; ``total`` in events (None: unknown)."""
        ...


class _NoTask:
    def advance(self, amount: int) -> None:
        return None

    def total(self, total: int | None) -> None:
        return None


class _NoProgress:
    def task(self, description: str, total: int | None = None) -> Task:
        return _NoTask()


NO_PROGRESS: Final[Progress] = _NoProgress()
