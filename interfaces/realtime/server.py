"""Builds the Socket.IO side of the app: server, namespace, broadcaster and the ASGI wrapper.

``build_realtime(settings)`` is called by the app factory (nothing is built at
import). The broadcaster exists before the services so the projector can be
given it; the lifespan then holds ``running(services)`` open while the services
are (joins are refused with ``not_ready`` outside it). ``asgi(app)`` serves
``/socket.io/`` and hands everything else, lifespan included, to the FastAPI app.

WebSocket per-message compression is negotiated by uvicorn
(``ws_per_message_deflate``, a serve option); ``http_compression`` below only
concerns long-polling responses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Final

import socketio

from infrastructure.settings import Settings
from interfaces.realtime.broadcaster import NAMESPACE, SocketIOBroadcaster
from interfaces.realtime.direct import WebSocketLinks
from interfaces.realtime.direct import install as install_links
from interfaces.realtime.history import MAX_REPLAY, StoreHistory
from interfaces.realtime.lean import LeanWebSocket, bind
from interfaces.realtime.manager import IndexedManager
from interfaces.realtime.namespace import OrdersNamespace
from interfaces.realtime.packets import JsonPacket
from interfaces.realtime.resume import History, RoomJoiner, Sources

if TYPE_CHECKING:
    from interfaces.services import Services

_LOG = logging.getLogger(__name__)

SOCKETIO_PATH: Final = "socket.io"
DEFAULT_HISTORY_SIZE: Final = 5_000
"""Events the broadcaster keeps for resumes (each with its room messages: a few KB)."""


class Realtime:
    """The Socket.IO server and what it needs at run time."""

    def __init__(
        self,
        settings: Settings,
        *,
        history_size: int = DEFAULT_HISTORY_SIZE,
        max_replay: int = MAX_REPLAY,
    ) -> None:
        self.settings = settings
        self.server = socketio.AsyncServer(
            async_mode="asgi",
            client_manager=IndexedManager(),
            serializer=JsonPacket,  # acks (a join's snapshot) encoded once, by orjson
            cors_allowed_origins=list(settings.cors_origins),
            ping_interval=settings.ping_interval,
            ping_timeout=settings.ping_timeout,
            http_compression=True,
            compression_threshold=1024,
            logger=False,
            engineio_logger=False,
        )
        self.links = WebSocketLinks(
            direct=settings.ws_direct_writes and not settings.ws_per_message_deflate
        )
        install_links(self.server, self.links)
        self.broadcaster = SocketIOBroadcaster(
            self.server,
            history_size=history_size,
            max_backlog=settings.send_queue_limit,
            stall_timeout=settings.ping_timeout,
            links=self.links,
        )
        self.lean_protocol: type[LeanWebSocket] | None = None
        """The uvicorn WebSocket protocol class for lean connections (``lean.py``)."""
        if settings.ws_lean_sockets and not settings.ws_per_message_deflate:
            self.lean_protocol = bind(
                self.server, path=SOCKETIO_PATH, cors_origins=tuple(settings.cors_origins)
            )
        self._max_replay = max_replay
        self._sources: Sources | None = None
        self._history: History | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self.server.register_namespace(
            OrdersNamespace(
                RoomJoiner(self.server, self.broadcaster),
                sources=lambda: self._sources,
                history=lambda: self._history,
                position=lambda: self.broadcaster.head,
            )
        )

    def asgi(self, app: Any) -> socketio.ASGIApp:
        """``app`` with Socket.IO at ``/socket.io/`` in front (lifespan passes through); its
        ``realtime`` attribute is this object (``interfaces/server.py`` reads it)."""
        wrapped = socketio.ASGIApp(self.server, other_asgi_app=app, socketio_path=SOCKETIO_PATH)
        wrapped.realtime = self
        return wrapped

    @contextlib.asynccontextmanager
    async def running(self, services: Services) -> AsyncIterator[None]:
        """For the app's lifespan: joins are served while the ``services`` are open."""
        await self.start(services, services.projector.position)
        try:
            yield
        finally:
            await self.stop()

    async def start(self, sources: Sources, position: int) -> None:
        """Accept joins; ``position`` is where the projector starts publishing."""
        self.broadcaster.start_at(position)
        self._sources = sources
        self._history = StoreHistory(
            sources.store, sources.read_models, max_events=self._max_replay
        )
        interval = self.settings.room_position_interval
        self._heartbeat = asyncio.create_task(
            self.broadcaster.heartbeat(interval), name="room-position-heartbeat"
        )
        _LOG.info("Socket.IO started at position %d", self.broadcaster.head)

    async def stop(self) -> None:
        """Refuse new joins, stop the heartbeat and close every socket."""
        self._sources = None
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
            self._heartbeat = None
        for sid in list(self._connected()):
            with contextlib.suppress(Exception):
                await self.server.disconnect(sid)
        await self.server.shutdown()
        _LOG.info("Socket.IO stopped")

    def _connected(self) -> list[str]:
        participants = self.server.manager.get_participants(NAMESPACE, None)
        return [sid for sid, _ in participants]


def build_realtime(settings: Settings, **options: Any) -> Realtime:
    """The Socket.IO server for ``settings`` (see ``Realtime`` for ``options``)."""
    return Realtime(settings, **options)
