"""The ``order-service`` console script (typer).

Commands are grouped in sub-apps so that more can be added beside them:
``serve`` (uvicorn), ``db upgrade`` / ``db current`` (the Alembic migrations).
Settings are read (and checked) when a command runs; an invalid one stops it with
a message naming the ``ORDER_SERVICE_*`` variable and exit code 2.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from infrastructure import migrations
from infrastructure.settings import Settings, SettingsError, load_settings
from interfaces.cli_schema import schema_app

app = typer.Typer(
    name="order-service",
    help="The restaurant order service.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="The database schema (Alembic migrations).", no_args_is_help=True)
app.add_typer(db_app, name="db")


def settings_or_exit() -> Settings:
    """The settings from the environment; on an invalid one print why and exit 2."""
    try:
        return load_settings()
    except SettingsError as exc:
        typer.echo(f"order-service: {exc}", err=True)
        raise typer.Exit(2) from None


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to bind.")] = 8000,
    loop: Annotated[str, typer.Option(help="Event loop: auto, asyncio, uvloop.")] = "auto",
    http: Annotated[str, typer.Option(help="HTTP protocol: auto, h11, httptools.")] = "auto",
    ws: Annotated[str, typer.Option(help="Websocket protocol (uvicorn --ws).")] = "auto",
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = False,
) -> None:
    """Serve the REST API (and Socket.IO) with uvicorn on one port."""
    from interfaces.server import build_server, freeze_startup_objects  # only to serve

    settings = settings_or_exit()
    configure_logging(settings.log_level)
    _check_schema(settings)
    server = build_server(
        settings, host=host, port=port, loop=loop, http=http, ws=ws, access_log=access_log
    )
    freeze_startup_objects()
    server.run()
    if not server.started:
        raise typer.Exit(3)


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Migrate the database to the newest schema (creates an SQLite file if missing)."""
    settings = settings_or_exit()
    migrations.upgrade(settings.database_url, revision)
    typer.echo(f"database at {migrations.current(settings.database_url)}")


@db_app.command("current")
def db_current() -> None:
    """Print the revision the database is at (and whether it is the newest)."""
    settings = settings_or_exit()
    at = migrations.current(settings.database_url)
    newest = migrations.head()
    state = "up to date" if at == newest else f"behind; newest is {newest}"
    typer.echo(f"{at or 'none (unmigrated)'} ({state})")


def _check_schema(settings: Settings) -> None:
    try:
        migrations.check_schema(settings.database_url)
    except migrations.SchemaNotReady as exc:
        typer.echo(f"order-service: cannot start: {exc}", err=True)
        raise typer.Exit(1) from None


def main() -> None:
    app()


app.add_typer(schema_app, name="schema")

# The operator's tools on the event log (interfaces/cli_ops, docs/operations.md).
from interfaces.cli_ops import events, orders, projections, store  # noqa: E402

app.add_typer(projections.app, name="projections")
app.add_typer(events.app, name="events")
app.add_typer(orders.app, name="orders")
app.add_typer(store.app, name="store")
