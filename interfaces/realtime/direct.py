"""Room messages written straight to idle subscribers' WebSocket connections.

Server-to-client WebSocket frames are not masked, so a room message's frame is the same
bytes for every subscriber: the broadcaster frames it once (``text_frame``) and writes
those bytes to each subscriber's transport, instead of putting a packet on each
engine.io socket queue for that socket's writer task to encode, wrap in an ASGI message
and hand to uvicorn to frame again, one write per packet per subscriber. Frames for one
socket from one published batch are joined into one write.

A frame may only go straight to the transport when nothing else for that socket is in
flight, so that it cannot overtake an earlier packet (a join's ack, an engine.io ping, a
replay). ``WebSocketLinks.writable`` says yes only when all of these hold:

- the connection is served by uvicorn's ``websockets-sansio`` protocol (the ``auto``
  default; other protocols always take the queue), the handshake is complete, no close
  frame was sent, the peer is connected and no per-message extension (deflate) was
  negotiated;
- the transport is not paused for being above its high-water mark (a subscriber that
  stops reading: its packets go to the engine.io queue, where the broadcaster's bound
  applies as before);
- the engine.io socket is upgraded to the websocket, not closing or upgrading;
- its queue is empty **and** its writer task is parked waiting for the next packet. The
  second part is what makes the first one enough: once a ``put`` wakes the writer, the
  queue empties before the writer has sent what it took (engine.io's ``poll`` takes the
  packets, then the writer sends them), and during that window the writer is not among
  the queue's waiting getters.

Everything else (acks, pings, replays, heartbeats, a socket not idle) goes through the
engine.io queue as before. The link is registered by the engine.io websocket driver
(``linked_driver``, installed per server) for the time its handler runs.

The links also end the TCP connection of a disconnected socket whose peer still does not
read (``cut_off_if_stalled``): engine.io alone would keep it for as long as the peer does.
They are installed for that even where direct writes are off (``direct=False``).
"""

from __future__ import annotations

import asyncio
import logging
import struct
from typing import Any, ClassVar, Final

from engineio.async_drivers import asgi as engineio_asgi
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

_LOG = logging.getLogger(__name__)
_SHORT: Final = 126
_MEDIUM: Final = 1 << 16


CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
"""WebSocket opcodes (RFC 6455 §5.2)."""


def server_frame(opcode: int, payload: bytes) -> bytes:
    """``payload`` as one final, unmasked WebSocket frame of ``opcode`` (RFC 6455 §5.2)."""
    first = 0x80 | opcode
    size = len(payload)
    if size < _SHORT:
        return bytes((first, size)) + payload
    if size < _MEDIUM:
        return struct.pack("!BBH", first, 126, size) + payload
    return struct.pack("!BBQ", first, 127, size) + payload


def text_frame(payload: bytes) -> bytes:
    """UTF-8 ``payload`` as one final, unmasked WebSocket text frame."""
    return server_frame(TEXT, payload)


class WebSocketLinks:
    """The uvicorn protocol behind each engine.io socket served over a WebSocket."""

    def __init__(self, *, direct: bool = True) -> None:
        """``direct``: whether ``writable`` may name a connection to write straight to
        (False: the links only serve ``cut_off_if_stalled``)."""
        self._protocols: dict[str, WebSocketsSansIOProtocol] = {}
        self.direct = direct
        self.frames_written = 0
        """Frames written straight to a transport (diagnostics and tests)."""
        self.cut_off = 0
        """Connections ended by ``cut_off_if_stalled`` (diagnostics and tests)."""

    def __len__(self) -> int:
        return len(self._protocols)

    def add(self, eio_sid: str, protocol: WebSocketsSansIOProtocol) -> None:
        self._protocols[eio_sid] = protocol

    def discard(self, eio_sid: str, protocol: WebSocketsSansIOProtocol) -> None:
        if self._protocols.get(eio_sid) is protocol:
            del self._protocols[eio_sid]

    def writable(self, eio_sid: str, socket: Any) -> WebSocketsSansIOProtocol | None:
        """The protocol to write ``socket``'s next frame to, or None: use its queue."""
        protocol = self._protocols.get(eio_sid) if self.direct else None
        if protocol is None:
            return None
        queue = socket.queue
        if queue.qsize() or not _writer_parked(queue):
            return None
        if socket.closing or socket.closed or socket.upgrading or not socket.upgraded:
            return None
        if (
            protocol.close_sent
            or protocol.disconnected
            or not protocol.writable.is_set()
            or protocol.conn.state is not State.OPEN
            or protocol.conn.extensions
            or protocol.transport.is_closing()
        ):
            return None
        return protocol

    def write(self, protocol: WebSocketsSansIOProtocol, frames: list[bytes]) -> None:
        """Write ``frames`` (from ``writable``, in the same loop step) in one call."""
        protocol.transport.write(frames[0] if len(frames) == 1 else b"".join(frames))
        self.frames_written += len(frames)

    def cut_off_if_stalled(self, eio_sid: str, grace: float) -> None:
        """End ``eio_sid``'s TCP connection if, ``grace`` s from now, its peer still does
        not read (the transport still paused above its high-water mark).

        For a socket the server has disconnected: engine.io's writer waits for the
        transport to drain and its reader for the next message, so a peer that never
        reads again would keep the connection, and what is buffered for it, for as long
        as it keeps the TCP connection open. A peer that reads again gets everything up to
        the disconnect and closes the connection itself."""
        protocol = self._protocols.get(eio_sid)
        if protocol is not None:
            loop = asyncio.get_running_loop()
            loop.call_later(grace, self._cut_off_if_stalled, eio_sid, protocol)

    def _cut_off_if_stalled(self, eio_sid: str, protocol: WebSocketsSansIOProtocol) -> None:
        if self._protocols.get(eio_sid) is not protocol or protocol.writable.is_set():
            return  # gone already, or its peer reads again
        transport = protocol.transport
        if not transport.is_closing():
            _LOG.warning("cutting off eio_sid=%s: not read from since its disconnect", eio_sid)
            transport.abort()
            self.cut_off += 1

    def driver(self) -> type[engineio_asgi.WebSocket]:
        """An engine.io ASGI websocket driver class that registers each connection here
        (its ``links`` attribute is this object)."""
        links = self

        class LinkedWebSocket(engineio_asgi.WebSocket):  # type: ignore[misc]
            links: ClassVar[WebSocketLinks] = self

            async def __call__(self, environ: dict[str, Any]) -> str:
                socket = getattr(self.handler, "__self__", None)  # the engine.io socket
                protocol = getattr(environ.get("asgi.send"), "__self__", None)
                sid = getattr(socket, "sid", None)
                if not isinstance(sid, str) or not isinstance(protocol, WebSocketsSansIOProtocol):
                    result: str = await super().__call__(environ)
                    return result
                links.add(sid, protocol)
                try:
                    result = await super().__call__(environ)
                    return result
                finally:
                    links.discard(sid, protocol)

        return LinkedWebSocket


def _writer_parked(queue: Any) -> bool:
    """Whether a task is waiting in ``queue.get()`` and has not been woken yet."""
    getters = queue._getters  # asyncio.Queue's waiting getters (stable since 3.4)
    return any(not getter.done() for getter in getters)


def install(server: Any, links: WebSocketLinks) -> None:
    """Make the engine.io server of python-socketio ``server`` register its websockets
    in ``links`` (the driver table is per server: copied, never changed in place)."""
    eio = server.eio
    eio._async = {**eio._async, "websocket": links.driver()}
