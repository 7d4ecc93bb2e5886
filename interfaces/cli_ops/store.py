"""``order-service store``: audit (verify) and statistics of the store file."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from infrastructure.projector import ProjectionFailed
from infrastructure.replay.inspect import StoreStats, store_stats
from infrastructure.replay.rebuild import REBUILD_BATCH
from infrastructure.replay.source import open_log
from infrastructure.replay.verify import DEFAULT_LIMIT, VerifyReport, verify_store
from interfaces.cli_ops.output import (
    ExitCode,
    JsonOption,
    database_url,
    fail,
    operation,
    print_json,
    progress_bars,
    stdout,
)

app = typer.Typer(help="The store file: verify and statistics.", no_args_is_help=True)


@app.command("verify")
@operation
async def verify(
    read_models: Annotated[
        bool,
        typer.Option(
            "--read-models/--log-only", help="Also compare every read model with a fresh fold."
        ),
    ] = True,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="Differences to print at most.")
    ] = DEFAULT_LIMIT,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, max=100_000)] = REBUILD_BATCH,
    json_output: JsonOption = False,
) -> None:
    """Positions dense, versions contiguous, every event decodes, read models = a fresh fold.

    Prints every difference; exit 1 if there is any.
    """
    url = database_url()
    try:
        with progress_bars() as bars:
            report = await verify_store(
                url, read_models=read_models, batch_size=batch_size, progress=bars, limit=limit
            )
    except ProjectionFailed as exc:
        fail(ExitCode.FINDING, str(exc))
    if json_output:
        print_json(report)
    else:
        _print_report(report)
    if not report.ok:
        raise typer.Exit(int(ExitCode.FINDING))


def _print_report(report: VerifyReport) -> None:
    for difference in report.differences:
        stdout.print(f"[red]✗[/] {difference}", markup=True, highlight=False)
    if report.more:
        stdout.print(f"… and {report.more:,} more difference(s)")
    compared = (
        f"read models compared at position {report.position:,} "
        f"({', '.join(f'{t}: {n:,} rows' for t, n in report.tables.items())})"
        if report.position is not None
        else "read models not compared"
    )
    verdict = "[green]ok[/]" if report.ok else f"[red]{report.found:,} difference(s)[/]"
    stdout.print(
        f"{verdict}: {report.events:,} events in {report.streams:,} streams (head "
        f"{report.head:,}); {compared}"
    )


@app.command("stats")
@operation
def stats(json_output: JsonOption = False) -> None:
    """Events, streams, types, size on disk, head, first and last recorded_at."""
    with open_log(database_url()) as log:
        result = store_stats(log)
    if json_output:
        print_json({**_as_dict(result), "size": result.size})
    else:
        _print_stats(result)


def _as_dict(result: StoreStats) -> dict[str, object]:
    return {name: getattr(result, name) for name in result.__slots__}


def _print_stats(result: StoreStats) -> None:
    stdout.print(
        f"{result.events:,} events in {result.streams:,} streams; head {result.head:,}\n"
        f"recorded from {result.first_recorded_at or '-'} to {result.last_recorded_at or '-'}\n"
        f"on disk: {_size(result.size)} ("
        + ", ".join(f"{name} {_size(n)}" for name, n in result.files.items())
        + ")"
    )
    table = Table(box=None, pad_edge=False)
    table.add_column("type")
    table.add_column("events", justify="right")
    table.add_column("share", justify="right")
    for type_, count in result.types.items():
        table.add_row(type_, f"{count:,}", f"{count / max(result.events, 1):.1%}")
    stdout.print(table)


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:,.1f} {unit}" if unit != "B" else f"{n} B"
        value /= 1024
    return f"{n} B"
