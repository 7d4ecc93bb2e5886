"""``order-service orders``: one order as it stood at any point, and its history."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from domain.ports import RecordedEvent
from infrastructure.replay.inspect import OrderAt, OrderNotFound, order_at, order_history
from infrastructure.replay.source import open_log
from interfaces.cli_ops.output import (
    ExitCode,
    JsonOption,
    database_url,
    fail,
    operation,
    print_json,
    stdout,
)

app = typer.Typer(help="Orders folded from their events (audit).", no_args_is_help=True)

OrderId = Annotated[str, typer.Argument(help="The order id (its stream id).")]


@app.command("show")
@operation
def show(
    order_id: OrderId,
    at: Annotated[
        int | None, typer.Option("--at", min=1, help="As it stood at this position.")
    ] = None,
    at_time: Annotated[
        str | None,
        typer.Option("--at-time", help="As it stood at this instant (ISO 8601; naive = UTC)."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """The order (with its ticket number) folded from its events, now or at a point."""
    if at is not None and at_time is not None:
        fail(ExitCode.USAGE, "give --at or --at-time, not both")
    instant = _instant(at_time) if at_time is not None else None
    with open_log(database_url()) as log:
        try:
            found = order_at(log, order_id, position=at, at_time=instant)
        except OrderNotFound as exc:
            fail(ExitCode.FINDING, str(exc))
    if json_output:
        print_json({"position": found.position, "version": found.version, "order": found.view})
    else:
        _print_order(found)


def _instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        fail(ExitCode.USAGE, f"--at-time must be ISO 8601 (e.g. 2026-11-25T18:30:00Z): {text!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _print_order(found: OrderAt) -> None:
    view = found.view
    stdout.print(
        f"order {found.order_id} as of position {found.position:,} (version {found.version})"
    )
    if view is None:
        stdout.print("[yellow]discarded[/] (an open order deleted before it was sent)")
        return
    table_no = f" · table {view['table_number']}" if view["table_number"] is not None else ""
    stdout.print(
        f"#{view['number']} · {view['business_day']} · {view['order_type']}{table_no} · "
        f"[bold]{view['status']}[/] · total {_money(view['total'])}"
    )
    if view["cancel_reason"]:
        stdout.print(f"cancelled: {view['cancel_reason']}")
    items = Table(box=None, pad_edge=False)
    for column in ("item", "qty", "price", "station", "status", "modifiers / notes"):
        items.add_column(column)
    for item in view["items"]:
        extra = ", ".join(item["modifiers"]) + (f" — {item['notes']}" if item["notes"] else "")
        status = item["status"] + (f" ({item['void_reason']})" if item["void_reason"] else "")
        items.add_row(
            item["name"],
            str(item["quantity"]),
            _money(item["unit_price"]),
            item["station"] or "",
            status,
            extra,
        )
    stdout.print(items)


def _money(cents: int) -> str:
    return f"{cents / 100:,.2f}"


@app.command("history")
@operation
def history(order_id: OrderId, json_output: JsonOption = False) -> None:
    """Every event of the order, oldest first."""
    with open_log(database_url()) as log:
        try:
            events = order_history(log, order_id)
        except OrderNotFound as exc:
            fail(ExitCode.FINDING, str(exc))
    if json_output:
        for event in events:
            print_json(event)
        return
    table = Table(box=None, pad_edge=False)
    for column in ("v", "position", "recorded (UTC)", "type", "actor", "data"):
        table.add_column(column)
    for event in events:
        table.add_row(
            str(event.stream_version),
            str(event.position),
            event.recorded_at.strftime("%Y-%m-%d %H:%M:%S"),
            event.type,
            str(event.metadata.get("actor", "")),
            _details(event),
        )
    stdout.print(table)


def _details(event: RecordedEvent) -> str:
    shown: dict[str, Any] = {k: v for k, v in event.data.items() if k != "order_id"}
    if "items" in shown:
        shown["items"] = [f"{i.get('quantity')} x {i.get('name')}" for i in shown["items"]]
    return ", ".join(f"{k}={v}" for k, v in shown.items())
