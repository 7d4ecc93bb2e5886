"""``order-service schema export``: write the generated wire types, or check them (CI drift).

The generators (``interfaces.schema_export``) load only when the command runs, so the
console script starts as fast as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

schema_app = typer.Typer(
    help="The wire types for front ends: JSON Schema, TypeScript, AsyncAPI.",
    no_args_is_help=True,
)


@schema_app.command("export")
def export(
    out: Annotated[Path, typer.Option(help="Directory of the generated files.")] = Path(
        "docs/schemas"
    ),
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 if a file differs.")
    ] = False,
) -> None:
    """Generate the JSON Schemas, TypeScript declarations and AsyncAPI document from the code."""
    from interfaces.schema_export import differing, export_all

    if check:
        stale = differing(out)
        for path in stale:
            state = "differs from the code" if path.exists() else "missing"
            typer.echo(f"{path}: {state}", err=True)
        if stale:
            typer.echo("run `make schema` (order-service schema export) and commit", err=True)
            raise typer.Exit(1)
        typer.echo(f"{out}: up to date")
        return
    written = export_all(out)
    for path in written:
        typer.echo(f"wrote {path}")
    if not written:
        typer.echo(f"{out}: up to date")
