"""The running service's resources, built from settings: the composition of the adapters.

``open_services(settings)`` checks the database schema, opens the event store and the
read-model engine, starts the projector and builds the ``OrderService``; leaving it
stops and closes them in reverse order. The app's lifespan holds it open and hands the
``Services`` to the routes (``app.state.services``); the Socket.IO layer passes its
broadcaster in and reads the same ``Services``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from domain.handlers import OrderService
from domain.ports import EventStore
from infrastructure.broadcast import Broadcaster
from infrastructure.clock import SystemClock, UuidGenerator
from infrastructure.event_store import open_event_store
from infrastructure.migrations import check_schema
from infrastructure.projector import Projector
from infrastructure.read_models import ReadModels, create_engine
from infrastructure.settings import Settings
from interfaces.http.idempotency import IdempotencyRegistry


@dataclass(frozen=True, slots=True)
class Services:
    """What the routes (and the Socket.IO namespace) use; built once per app start."""

    settings: Settings
    store: EventStore
    engine: AsyncEngine
    read_models: ReadModels
    projector: Projector
    orders: OrderService
    idempotency: IdempotencyRegistry
    business_tz: ZoneInfo
    runtime: Mapping[str, str] = field(default_factory=dict)
    """What the server runs on (loop, HTTP and websocket implementations), for /api/_runtime."""


@asynccontextmanager
async def open_services(
    settings: Settings,
    *,
    broadcaster: Broadcaster | None = None,
    runtime: Mapping[str, str] | None = None,
) -> AsyncIterator[Services]:
    """Open every resource; raises ``SchemaNotReady`` on an unmigrated database."""
    await asyncio.to_thread(check_schema, settings.database_url)
    async with AsyncExitStack() as stack:
        store = await open_event_store(
            settings.database_url,
            synchronous=settings.sqlite_synchronous,
            checkpoint_interval=settings.sqlite_checkpoint_interval or None,
        )
        stack.push_async_callback(store.close)
        engine = create_engine(settings.database_url)
        stack.push_async_callback(engine.dispose)
        projector = Projector(store, engine, broadcaster, one_hop_writes=True)
        await projector.start()
        stack.push_async_callback(projector.stop)
        yield Services(
            settings=settings,
            store=store,
            engine=engine,
            read_models=ReadModels(engine),
            projector=projector,
            orders=OrderService(
                store, SystemClock(), UuidGenerator(), max_retries=settings.command_max_retries
            ),
            idempotency=IdempotencyRegistry(),
            business_tz=ZoneInfo(settings.business_day_timezone),
            runtime=dict(runtime or {}),
        )
