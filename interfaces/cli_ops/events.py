"""``order-service events``: tail the log, export and import it, re-broadcast a range."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from typing import IO, Annotated, Any, Final

import httpx
import orjson
import typer
from rich.table import Table

from domain.ports import RecordedEvent
from infrastructure.replay.inspect import tail as tail_events
from infrastructure.replay.source import database_file, open_log
from infrastructure.replay.token import HEADER, ensure_token
from infrastructure.replay.transfer import ImportReport, export_events, import_events
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
    stderr,
    stdout,
)

app = typer.Typer(help="The event log: tail, export, import, re-broadcast.", no_args_is_help=True)

POLL: Final = 0.5
"""Seconds between looks at the head while following (the server is another process)."""
REBROADCAST_READ_TIMEOUT: Final = 600.0
"""Seconds the CLI waits for the server's answer to a re-broadcast."""

Position = Annotated[int, typer.Option(min=0)]


@app.command("tail")
@operation
def tail(
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events.")
    ] = False,
    stream: Annotated[
        str | None, typer.Option("--stream", help="Only this stream (order id).")
    ] = None,
    type_: Annotated[str | None, typer.Option("--type", help="Only events of this type.")] = None,
    after: Annotated[
        int | None, typer.Option("--after", min=0, help="Events past this position.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100_000, help="How many.")] = 20,
    json_output: JsonOption = False,
) -> None:
    """The last events (or those after --after), oldest first; --follow keeps going."""
    with open_log(database_url()) as log:
        events = tail_events(log, after=after, limit=limit, stream=stream, type_=type_)
        _print_events(events, json_output)
        seen = events[-1].position if events else (log.head() if after is None else after)
        while follow:
            time.sleep(POLL)
            head = log.head()  # read first: every event up to it is visible to the queries
            while more := tail_events(log, after=seen, limit=1000, stream=stream, type_=type_):
                _print_events(more, json_output, header=False)
                seen = more[-1].position
            seen = max(seen, head)  # nothing (more) matched up to the head


def _print_events(events: list[RecordedEvent], json_output: bool, *, header: bool = True) -> None:
    if json_output:
        for event in events:
            print_json(event)
        return
    if not events and header:
        stdout.print("no events")
        return
    table = Table(show_header=header, box=None, pad_edge=False)
    for column in ("position", "recorded (UTC)", "stream", "v", "type", "data"):
        table.add_column(column, justify="right" if column in ("position", "v") else "left")
    for e in events:
        table.add_row(
            str(e.position),
            e.recorded_at.strftime("%Y-%m-%d %H:%M:%S"),
            e.stream_id,
            str(e.stream_version),
            e.type,
            _summary(e.data),
        )
    stdout.print(table)


def _summary(data: dict[str, Any], width: int = 60) -> str:
    text = orjson.dumps({k: v for k, v in data.items() if k != "order_id"}).decode()
    return text if len(text) <= width else text[: width - 1] + "…"


@app.command("export")
@operation
def export(
    after: Annotated[int, typer.Option("--after", min=0, help="Events past this position.")] = 0,
    until: Annotated[
        int | None, typer.Option("--until", min=0, help="Up to this position (default: head).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Write stored events as JSON Lines, one event (every column) per line."""
    url = database_url()
    database_file(url)
    with progress_bars() as bars:
        if output is None:
            result = export_events(url, sys.stdout.buffer, after=after, until=until, progress=bars)
            sys.stdout.buffer.flush()
        else:
            # Written beside the target and renamed when complete: an interrupted export
            # leaves no half file behind.
            partial = output.with_name(output.name + ".partial")
            try:
                with partial.open("wb") as out:
                    result = export_events(url, out, after=after, until=until, progress=bars)
                    _sync(out)
                os.replace(partial, output)
            finally:
                partial.unlink(missing_ok=True)
    summary = f"exported {result.events:,} events"
    if result.first is not None:
        summary += f" (positions {result.first:,}..{result.last:,} of {result.head:,})"
    if json_output and output is not None:
        print_json(result)
    else:
        stderr.print(summary + (f" to {output}" if output else ""))


def _sync(out: IO[bytes]) -> None:
    out.flush()
    os.fsync(out.fileno())


@app.command("import")
@operation
async def import_(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A JSON Lines export.")],
    check: Annotated[
        bool, typer.Option("--check", help="Only check the file against the store.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Append the file's events through the store (idempotent, resumable; new positions).

    Events already in the store are skipped; a gap or a conflicting event refuses the whole
    file (exit 1) before anything is appended.
    """
    url = database_url()
    with progress_bars() as bars:
        report = await import_events(url, file, progress=bars, check_only=check)
    if json_output:
        print_json(report)
    else:
        _print_import(report, check)
    if not report.ok:
        raise typer.Exit(int(ExitCode.FINDING))


def _print_import(report: ImportReport, check: bool) -> None:
    if not report.ok:
        stdout.print(
            f"[red]import refused[/]: {len(report.problems) + report.more_problems} problem(s)"
        )
        for problem in report.problems:
            stdout.print(f"  {problem}")
        if report.more_problems:
            stdout.print(f"  … and {report.more_problems} more")
        stdout.print("nothing was appended after the check; fix the file or the target and retry")
        return
    if check:
        todo = report.lines - report.skipped
        stdout.print(f"ok: {todo:,} event(s) to import, {report.skipped:,} already there")
        return
    where = ""
    if report.first_position is not None:
        where = f" at positions {report.first_position:,}..{report.last_position:,}"
    stdout.print(
        f"[green]imported[/] {report.imported:,} event(s){where}; "
        f"skipped {report.skipped:,} already there"
    )


@app.command("rebroadcast")
@operation
def rebroadcast(
    after: Annotated[int, typer.Option("--after", min=0, help="Events past this position.")],
    until: Annotated[int, typer.Option("--until", min=1, help="Up to this position.")],
    server: ServerOption = DEFAULT_SERVER,
    json_output: JsonOption = False,
) -> None:
    """Deliberately send a range of events to the live screens again (through the server).

    Replays never reach screens; this is the one way to push past events to them. The
    server must run on this machine; the CLI authenticates with the admin token file
    beside the database.
    """
    if until <= after:
        fail(ExitCode.USAGE, "--until must be greater than --after")
    url = database_url()
    database_file(url)
    token = ensure_token(url)
    try:
        response = httpx.post(
            f"{server.rstrip('/')}/api/admin/rebroadcast",
            json={"after": after, "until": until},
            headers={HEADER: token},
            # The server paces each screen by what it reads: a long range to a slow screen
            # takes a while (a screen that stops reading is dropped after the ping timeout).
            timeout=httpx.Timeout(10.0, read=REBROADCAST_READ_TIMEOUT),
        )
    except httpx.HTTPError as exc:
        fail(ExitCode.UNAVAILABLE, f"cannot reach the server at {server}: {exc}")
    body = _body(response)
    if response.status_code == 422:
        fail(ExitCode.USAGE, f"the server refused the range: {body.get('detail', body)}")
    if response.status_code != 200:
        fail(
            ExitCode.FINDING,
            f"the server refused ({response.status_code}): {body.get('detail', body)}",
        )
    if json_output:
        print_json(body)
    else:
        dropped = body.get("dropped", 0)
        stdout.print(
            f"[green]re-broadcast[/] {body['events']:,} event(s) ({body['messages']:,} room "
            f"messages to {body.get('screens', 0):,} screen(s)) from positions "
            f"{after + 1:,}..{until:,}"
            + (f"; [yellow]{dropped:,} screen(s) dropped as too slow[/]" if dropped else "")
        )


def _body(response: httpx.Response) -> dict[str, Any]:
    with contextlib.suppress(ValueError):
        body = response.json()
        if isinstance(body, dict):
            return body
    return {"detail": response.text}
