"""What every operations command shares: settings, exit codes, rich or ``--json`` output,
progress bars.

Exit codes (``docs/operations.md``): 0 ok; 1 a finding (verify found differences, an
import or a rebuild was refused, no such order); 2 usage or settings; 3 the database
cannot be reached or is not migrated (or the server, for ``events rebroadcast``);
130 interrupted (Ctrl-C: whatever was under way was rolled back or can be resumed).

Tables and messages go to stdout, progress bars to stderr (only on a terminal), so that
``--json`` output and exported events can be piped.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import IntEnum
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar

import orjson
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Task as RichTask
from rich.text import Text

from infrastructure.replay.progress import Task
from infrastructure.replay.source import StoreUnavailable
from infrastructure.settings import SettingsError, load_settings

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_SERVER = "http://127.0.0.1:8000"


class ExitCode(IntEnum):
    OK = 0
    FINDING = 1
    USAGE = 2
    UNAVAILABLE = 3
    INTERRUPTED = 130


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")]
ServerOption = Annotated[
    str, typer.Option("--server", help="Base URL of the running server (on this machine).")
]

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False)


def fail(code: ExitCode, message: str) -> NoReturn:
    """Print ``message`` on stderr and exit with ``code``."""
    stderr.print(f"[bold red]order-service:[/] {message}", markup=True, highlight=False)
    raise typer.Exit(int(code))


def database_url() -> str:
    """The database URL from the ``ORDER_SERVICE_*`` settings (exit 2 if they are invalid)."""
    try:
        return load_settings().database_url
    except SettingsError as exc:
        fail(ExitCode.USAGE, str(exc))


def operation(command: Callable[P, Any]) -> Callable[P, None]:
    """A command (sync or async) whose interruptions and unreachable store become exit codes."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            result = command(*args, **kwargs)
            if inspect.iscoroutine(result):
                asyncio.run(result)
        except KeyboardInterrupt:
            fail(ExitCode.INTERRUPTED, "interrupted")
        except StoreUnavailable as exc:
            fail(ExitCode.UNAVAILABLE, str(exc))

    return run


def print_json(value: Any) -> None:
    """``value`` as one line of JSON on stdout (dataclasses and datetimes included)."""
    typer.echo(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode())


# --- progress --------------------------------------------------------------------------------


class _Rate(ProgressColumn):
    def render(self, task: RichTask) -> Text:
        speed = task.finished_speed or task.speed
        unit = task.fields.get("unit", "events")
        return Text(f"{speed:,.0f} {unit}/s" if speed else "", style="progress.data.speed")


class _RichTask:
    def __init__(self, progress: Progress, description: str, total: int | None, unit: str) -> None:
        self._progress = progress
        self._id = progress.add_task(description, total=total, unit=unit)

    def advance(self, amount: int) -> None:
        self._progress.advance(self._id, amount)

    def total(self, total: int | None) -> None:
        self._progress.update(self._id, total=total)


class Bars:
    """``infrastructure.replay.progress.Progress`` drawn with rich on stderr."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress

    def task(self, description: str, total: int | None = None) -> Task:
        unit = "bytes" if description.startswith("checking ") else "events"
        return _RichTask(self._progress, description, total, unit)


@contextmanager
def progress_bars() -> Iterator[Bars]:
    """Bars with count, rate and ETA while the block runs (hidden when stderr is no terminal)."""
    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _Rate(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=stderr,
        disable=not stderr.is_terminal,
    )
    with progress:
        yield Bars(progress)
