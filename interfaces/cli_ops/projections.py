"""``order-service projections``: checkpoint status and rebuilds of the read models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Final

import httpx
import typer
from rich.table import Table

from infrastructure.projector import ProjectionFailed
from infrastructure.replay.inspect import StatusReport, last_projected, projection_status
from infrastructure.replay.rebuild import (
    REBUILD_BATCH,
    TABLES,
    RebuildFailed,
    RebuildInProgress,
    RebuildResult,
    UnknownProjection,
    projection_names,
    rebuild_in_place,
    rebuild_online,
)
from infrastructure.replay.source import open_log
from interfaces.cli_ops.output import (
    DEFAULT_SERVER,
    ExitCode,
    JsonOption,
    ServerOption,
    database_url,
    fail,
    operation,
    print_json,
    progress_bars,
    stdout,
)

app = typer.Typer(help="Read models (projections): status and rebuilds.", no_args_is_help=True)

RECENTLY: Final = timedelta(seconds=30)
"""A projector that wrote a checkpoint this recently is taken to be running."""


@app.command("status")
@operation
def status(json_output: JsonOption = False) -> None:
    """Each projection's checkpoint, lag behind the head and last error."""
    with open_log(database_url()) as log:
        report = projection_status(log)
    if json_output:
        print_json(report)
    else:
        _print_status(report)


def _print_status(report: StatusReport) -> None:
    table = Table(title=f"head {report.head} · generation {report.generation}")
    for column in ("projection", "checkpoint", "lag", "updated (UTC)", "last error"):
        table.add_column(column, justify="right" if column in ("checkpoint", "lag") else "left")
    for p in report.projections:
        updated = p.updated_at.strftime("%Y-%m-%d %H:%M:%S") if p.updated_at else "never"
        error = f"[red]{p.last_error}[/]" if p.last_error else ""
        table.add_row(p.name, f"{p.position:,}", f"{p.lag:,}", updated, error)
    stdout.print(table)


@app.command("rebuild")
@operation
async def rebuild(
    names: Annotated[
        list[str] | None,
        typer.Argument(help=f"Projections to rebuild ({', '.join(TABLES)}); default: all."),
    ] = None,
    in_place: Annotated[
        bool,
        typer.Option(
            "--in-place", help="Truncate and replay the live tables (the server must be stopped)."
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Rebuild in place even if a server seems to run.")
    ] = False,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, max=100_000, help="Events per batch.")
    ] = REBUILD_BATCH,
    server: ServerOption = DEFAULT_SERVER,
    json_output: JsonOption = False,
) -> None:
    """Rebuild read models from the events.

    Online (the default): into shadow tables while the server keeps serving, then swapped
    in atomically at the live projector's position. With --in-place: offline.
    """
    url = database_url()
    try:
        selected = projection_names(names or ())
    except UnknownProjection as exc:
        fail(ExitCode.USAGE, str(exc))
    if in_place:
        _refuse_if_serving(url, server, force)
    try:
        with progress_bars() as bars:
            if in_place:
                result = await rebuild_in_place(url, selected, batch_size=batch_size, progress=bars)
            else:
                result = await rebuild_online(url, selected, batch_size=batch_size, progress=bars)
    except (RebuildInProgress, RebuildFailed, ProjectionFailed) as exc:
        fail(ExitCode.FINDING, f"rebuild stopped, read models unchanged: {exc}")
    if json_output:
        print_json(result)
    else:
        _print_result(result)


def _refuse_if_serving(url: str, server: str, force: bool) -> None:
    reasons = []
    if _answers(server):
        reasons.append(f"a server answers at {server}")
    with open_log(url) as log:
        last = last_projected(log)
    if last is not None and datetime.now(UTC) - last < RECENTLY:
        reasons.append(f"a projector wrote a checkpoint at {last:%H:%M:%S} UTC")
    if not reasons:
        return
    why = " and ".join(reasons)
    if not force:
        fail(
            ExitCode.FINDING,
            f"refusing to rebuild in place: {why}. Stop the server, rebuild online (without "
            "--in-place), or pass --force.",
        )
    stdout.print(f"[yellow]warning:[/] {why}; rebuilding in place anyway (--force)")


def _answers(server: str) -> bool:
    try:
        return httpx.get(f"{server.rstrip('/')}/health", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _print_result(result: RebuildResult) -> None:
    rate = result.events / result.seconds if result.seconds else 0.0
    how = (
        f"swapped in online (write lock held {result.swap_seconds * 1000:.0f} ms)"
        if result.swap_seconds is not None
        else "rebuilt in place"
    )
    stdout.print(
        f"[green]rebuilt[/] {', '.join(result.projections)}: {result.events:,} events in "
        f"{result.seconds:.1f} s ({rate:,.0f} events/s), {how}; checkpoint {result.position:,} "
        f"(head {result.head:,}), generation {result.generation}"
    )
    if result.position < result.head:
        stdout.print(
            f"the remaining {result.head - result.position:,} events are the live projector's "
            "to apply (is the server running?)"
        )
