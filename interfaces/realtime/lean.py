"""Socket.IO straight over a WebSocket, without engine.io's per-connection machinery.

A screen that opens its Socket.IO connection directly as a WebSocket
(``/socket.io/?EIO=4&transport=websocket``: kitchen screens, and any Socket.IO client
with ``transports: ['websocket']``) is served by ``LeanWebSocket``, a uvicorn WebSocket
protocol class. It does the WebSocket handshake, the framing, Engine.IO v4's open packet,
ping/pong and close itself, in the connection's own protocol callbacks, and gives
python-socketio the same three calls engine.io would (``connect``, ``message`` and
``disconnect`` through the engine.io server's handlers). python-socketio, the namespace
and the broadcaster see an engine.io socket (``LeanSocket``) in ``server.eio.sockets``.

What an idle connection then holds: this protocol object, its ``LeanSocket``, one timer
(the next ping, or the deadline of its pong) and python-socketio's own entries (its rooms,
its handshake environ). No ASGI task, no reader, writer or ping task, no queue, no
``websockets`` or uvicorn protocol state: engine.io's path kept ~38 KB and four or five
tasks per idle connection, and its request machinery left reference cycles that made the
garbage collector's young collections long while screens connected (``docs/performance.md``).

Writes go straight to the transport. While the transport is paused (the peer does not
read and the kernel's and uvloop's buffers are full) frames wait in ``backlog``, which is
what the broadcaster bounds (``send_queue_limit``) and what a replay is paced on.

Everything else is handed to uvicorn's own protocol (``WebSocketsSansIOProtocol``),
unchanged, through this object: a long-polling session upgrading (``sid`` in the query),
any other path, and any request that is not a plain, valid Engine.IO v4 WebSocket open
(engine.io then answers it with its own errors, as before). ``bind`` makes the class for
one ``Realtime``; ``interfaces/server.py`` passes it to uvicorn as its ``ws`` protocol.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import random
import struct
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Final, cast
from urllib.parse import parse_qs, unquote

from engineio import packet as eio_packet
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

try:  # websockets' C helper (uvicorn[standard] installs it); its pure-Python twin otherwise
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover
    from websockets.utils import apply_mask

from interfaces.realtime.direct import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    PONG,
    TEXT,
    server_frame,
    text_frame,
)

_LOG = logging.getLogger(__name__)

_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_MAX_HEAD: Final = 16_384
"""Bytes of request head accepted before the handshake is refused."""
CLOSE_GRACE: Final = 5.0
"""Seconds a close handshake may take before the connection is aborted."""

_PONG_EIO, _PING_EIO, _MESSAGE, _CLOSE_EIO = b"3", b"2", b"4", b"1"
"""Engine.IO v4 packet types a client sends (its open is the server's to send)."""
_PING_FRAME: Final = text_frame(b"2")
"""The server's Engine.IO ping, framed."""
_FIRST_PING: Final = (0.5, 1.0)
"""The first ping comes this fraction of ``ping_interval`` after connecting, drawn at random
per connection. Screens that connect together (every screen after a restart) would
otherwise be pinged together for as long as they stay (5,000 pings and pongs in the
second or two their connects took, every interval); early pings are within Engine.IO's
contract (a client waits ``pingInterval + pingTimeout``, and each ping resets it)."""


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key`` (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()


def close_frame(code: int) -> bytes:
    return server_frame(CLOSE, struct.pack("!H", code))


def packet_frame(pkt: eio_packet.Packet) -> bytes:
    """An engine.io packet as the WebSocket frame engine.io's own transport would send."""
    encoded = pkt.encode()
    if isinstance(encoded, bytes):
        return server_frame(BINARY, encoded)
    return text_frame(encoded.encode())


class LeanSocket:
    """The engine.io socket of a lean connection: what engine.io's server, python-socketio
    and the broadcaster use of ``engineio.async_socket.AsyncSocket``."""

    __slots__ = ("closed", "closing", "conn", "server", "session", "sid")

    connected: ClassVar[bool] = True
    upgraded: ClassVar[bool] = True
    upgrading: ClassVar[bool] = False

    def __init__(self, server: Any, sid: str, conn: LeanWebSocket) -> None:
        self.server = server
        self.sid = sid
        self.conn = conn
        self.session: dict[str, Any] = {}
        self.closing = False
        self.closed = False

    async def send(self, pkt: eio_packet.Packet) -> None:
        if not self.closed:
            self.conn.write(packet_frame(pkt))

    async def check_ping_timeout(self) -> bool:
        """For engine.io's monitor task: pings are timed by the connection itself."""
        return not self.closed

    async def close(self, wait: bool = True, abort: bool = False, reason: Any = None) -> None:
        """Engine.IO's close: the disconnect handler, then (unless ``abort``) a CLOSE packet
        and the WebSocket's close; ``wait``: until what was written has been sent."""
        if self.closed or self.closing:
            return
        self.closing = True
        eio = self.server
        await eio._trigger_event(
            "disconnect", self.sid, reason or eio.reason.SERVER_DISCONNECT, run_async=False
        )
        self.closed = True
        if eio.sockets.get(self.sid) is self:
            del eio.sockets[self.sid]
        if not abort:
            self.conn.write(packet_frame(eio_packet.Packet(eio_packet.CLOSE)))
        self.conn.close(1000)
        if wait:
            await self.conn.drained()


class LeanWebSocket(asyncio.Protocol):
    """A uvicorn WebSocket protocol: lean Socket.IO connections, or uvicorn's own protocol."""

    __slots__ = (
        "__weakref__",
        "_app_state",
        "_buffer",
        "_config",
        "_delegate",
        "_drain_waiters",
        "_fragment_opcode",
        "_fragments",
        "_head",
        "_inbox",
        "_loop",
        "_lost",
        "_paused",
        "_server_state",
        "_timer",
        "_worker",
        "backlog",
        "close_sent",
        "socket",
        "transport",
    )

    realtime_server: ClassVar[Any] = None
    """The python-socketio ``AsyncServer`` (set by ``bind``)."""
    socketio_path: ClassVar[str] = "/socket.io/"
    cors_origins: ClassVar[tuple[str, ...]] = ()
    active: ClassVar[set[LeanWebSocket]] = set()
    """Open lean connections of this class (diagnostics and tests)."""

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._config = config
        self._server_state = server_state
        self._app_state = app_state
        self._loop = _loop or asyncio.get_event_loop()
        self.transport: asyncio.Transport | None = None
        self._delegate: WebSocketsSansIOProtocol | None = None
        self._head = b""
        self._buffer = b""
        self._fragments: list[bytes] | None = None
        self._fragment_opcode = 0
        self.socket: LeanSocket | None = None
        self.backlog: deque[bytes] | None = None
        """Frames waiting while the transport is paused (None: nothing waits)."""
        self._paused = False
        self._drain_waiters: list[asyncio.Future[None]] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._inbox: deque[Callable[[], Awaitable[Any]]] | None = None
        self._worker: asyncio.Task[None] | None = None
        self.close_sent = False
        self._lost = False

    # --- asyncio protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._server_state.connections.add(self)

    def data_received(self, data: bytes) -> None:
        if self._delegate is not None:
            self._delegate.data_received(data)
        elif self.socket is None and not self.close_sent:
            self._handshake(data)
        else:
            self._frames(data)

    def eof_received(self) -> bool | None:
        if self._delegate is not None:
            self._delegate.eof_received()
        return None

    def pause_writing(self) -> None:
        if self._delegate is not None:
            self._delegate.pause_writing()
        else:
            self._paused = True

    def resume_writing(self) -> None:
        if self._delegate is not None:
            self._delegate.resume_writing()
            return
        self._paused = False
        self._flush_backlog()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._delegate is not None:
            self._delegate.connection_lost(exc)
            return
        self._lost = True
        self._server_state.connections.discard(self)
        type(self).active.discard(self)
        self._cancel_timer()
        self.backlog = None
        self._wake_drain_waiters()
        socket = self.socket
        if socket is not None and not socket.closed and not socket.closing:
            reason = socket.server.reason.TRANSPORT_CLOSE
            self._receive(lambda: socket.close(wait=False, abort=True, reason=reason))

    def shutdown(self) -> None:
        """uvicorn is stopping: close with 1012 (service restart), as its own protocol does."""
        if self._delegate is not None:
            self._delegate.shutdown()
        elif self.transport is not None and not self._lost:
            if self.socket is None and not self.close_sent:
                self.close_sent = True
                self.transport.write(
                    b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n"
                )
                self.transport.close()
            else:
                self.close(1012)

    # --- writing ----------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Frames waiting for the transport (what the broadcaster bounds)."""
        return len(self.backlog) if self.backlog is not None else 0

    def write(self, frame: bytes) -> None:
        """Write ``frame`` now, or after the backlog; nothing once the close frame is out
        (RFC 6455 §5.5.1: no data frame after a close frame)."""
        if not self.close_sent:
            self._send(frame)

    def _send(self, frame: bytes) -> None:
        if self._lost or self.transport is None:
            return
        if self.backlog is None and not self._paused:
            self.transport.write(frame)
        else:
            if self.backlog is None:
                self.backlog = deque()
            self.backlog.append(frame)

    def write_frames(self, frames: list[bytes]) -> None:
        """Several frames (one publish's, for this connection) in one write."""
        if len(frames) == 1:
            self.write(frames[0])
        elif self.backlog is None and not self._paused and not self.close_sent:
            self._send(b"".join(frames))
        else:
            for frame in frames:
                self.write(frame)

    def _flush_backlog(self) -> None:
        backlog = self.backlog
        transport = self.transport
        while backlog and not self._paused and transport is not None and not self._lost:
            transport.write(backlog.popleft())
        if not backlog:
            self.backlog = None
            self._wake_drain_waiters()

    async def drained(self, timeout: float | None = None) -> bool:
        """Wait until nothing is in ``backlog`` (or the connection is gone); False on timeout."""
        if not self.backlog or self._lost:
            return True
        waiter = self._loop.create_future()
        if self._drain_waiters is None:
            self._drain_waiters = []
        self._drain_waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                await waiter
        except TimeoutError:
            return False
        finally:
            if self._drain_waiters is not None and waiter in self._drain_waiters:
                self._drain_waiters.remove(waiter)
        return True

    def _wake_drain_waiters(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters or [], None
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def close(self, code: int = 1000, grace: float = CLOSE_GRACE) -> None:
        """Start the WebSocket close handshake (after what is already written). The
        connection is aborted if it has not ended ``grace`` s later while its peer is
        not reading (a peer still taking the backlog gets another ``grace``)."""
        if self.close_sent or self._lost or self.transport is None:
            return
        self.close_sent = True
        self._cancel_timer()
        self._send(close_frame(code))
        self._timer = self._loop.call_later(grace, self._close_timed_out, grace)

    def _close_timed_out(self, grace: float) -> None:
        self._timer = None
        if self._lost or self.transport is None:
            return
        if self.backlog and not self._paused:  # still being written as the peer reads
            self._timer = self._loop.call_later(grace, self._close_timed_out, grace)
            return
        self.transport.abort()

    # --- handshake --------------------------------------------------------------------------

    def _handshake(self, data: bytes) -> None:
        head = self._head + data
        end = head.find(b"\r\n\r\n")
        if end < 0:
            if len(head) > _MAX_HEAD:
                self._delegate_to_uvicorn(head)
            else:
                self._head = head
            return
        self._head = b""
        opened = self._open(head[:end])
        if opened is None:
            self._delegate_to_uvicorn(head)
            return
        key, environ = opened
        rest = head[end + 4 :]
        self._accept(key, environ)
        if rest:
            self._frames(rest)

    def _open(self, head: bytes) -> tuple[str, dict[str, Any]] | None:
        """The key and environ of a plain Engine.IO v4 WebSocket open; None: not one."""
        server = type(self).realtime_server
        if server is None or self._config.ws_per_message_deflate:
            return None
        try:
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            method, target, version = request_line.split(" ")
        except ValueError:
            return None
        path, _, query = target.partition("?")
        if method != "GET" or version != "HTTP/1.1" or unquote(path) != self.socketio_path:
            return None
        params = parse_qs(query)
        if (
            params.get("EIO") != ["4"]
            or params.get("transport") != ["websocket"]
            or "sid" in params
            or "j" in params
        ):
            return None
        headers: dict[str, str] = {}
        for line in header_lines:
            name, sep, value = line.partition(":")
            if not sep:
                return None
            name, value = name.strip().lower(), value.strip()
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        connection = {t.strip().lower() for t in headers.get("connection", "").split(",")}
        key = headers.get("sec-websocket-key", "")
        if (
            headers.get("upgrade", "").lower() != "websocket"
            or "upgrade" not in connection
            or headers.get("sec-websocket-version") != "13"
            or not _valid_key(key)
            or not self._origin_allowed(headers.get("origin"))
        ):
            return None
        return key, self._environ(method, path, query, headers)

    def _origin_allowed(self, origin: str | None) -> bool:
        """engine.io's check for ``cors_allowed_origins`` given as a list (an empty list
        turns the check off)."""
        allowed = type(self).cors_origins
        return not allowed or origin is None or "*" in allowed or origin in allowed

    def _environ(
        self, method: str, path: str, query: str, headers: dict[str, str]
    ) -> dict[str, Any]:
        """What engine.io's ASGI driver would give the connect handler, without the ASGI
        callables (nothing is served over ASGI here) and the body reader."""
        assert self.transport is not None
        peer = self.transport.get_extra_info("peername") or ("?", 0)
        sockname = self.transport.get_extra_info("sockname") or ("?", 0)
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "RAW_URI": f"{path}?{query}" if query else path,
            "SCRIPT_NAME": "",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": peer[0],
            "REMOTE_PORT": str(peer[1]),
            "SERVER_NAME": sockname[0],
            "SERVER_PORT": str(sockname[1]),
            "asgi.scope": {
                "type": "websocket",
                "path": path,
                "client": (peer[0], peer[1]),
                "server": (sockname[0], sockname[1]),
            },
        }
        for name, value in headers.items():
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        return environ

    def _accept(self, key: str, environ: dict[str, Any]) -> None:
        assert self.transport is not None
        server = type(self).realtime_server
        eio = server.eio
        response = [
            b"HTTP/1.1 101 Switching Protocols\r\n",
            b"Upgrade: websocket\r\n",
            b"Connection: Upgrade\r\n",
            b"Sec-WebSocket-Accept: " + accept_key(key).encode() + b"\r\n",
        ]
        for name, value in self._server_state.default_headers:
            response += [name, b": ", value, b"\r\n"]
        response.append(b"\r\n")
        self.transport.write(b"".join(response))
        sid = eio.generate_id()
        socket = self.socket = LeanSocket(eio, sid, self)
        eio.sockets[sid] = socket
        type(self).active.add(self)
        opened = eio_packet.Packet(
            eio_packet.OPEN,
            {
                "sid": sid,
                "upgrades": [],
                "pingTimeout": int(eio.ping_timeout * 1000),
                "pingInterval": int(eio.ping_interval + eio.ping_interval_grace_period) * 1000,
                "maxPayload": eio.max_http_buffer_size,
            },
        )
        self.write(packet_frame(opened))
        self._receive(lambda: self._connect(socket, environ))

    async def _connect(self, socket: LeanSocket, environ: dict[str, Any]) -> None:
        eio = socket.server
        accepted = await eio._trigger_event("connect", socket.sid, environ, run_async=False)
        if accepted is not None and accepted is not True:
            _LOG.warning("Application rejected connection")
            socket.closed = True
            eio.sockets.pop(socket.sid, None)
            self.close(1008)
            return
        if not socket.closed and not self._lost:
            first = eio.ping_interval * random.uniform(*_FIRST_PING)
            self._timer = self._loop.call_later(first, self._ping)

    def _delegate_to_uvicorn(self, head: bytes) -> None:
        """Hand the connection, as received so far, to uvicorn's own WebSocket protocol."""
        assert self.transport is not None
        self._server_state.connections.discard(self)
        delegate = WebSocketsSansIOProtocol(
            config=self._config,
            server_state=self._server_state,
            app_state=self._app_state,
            _loop=self._loop,
        )
        self._delegate = delegate
        delegate.connection_made(self.transport)
        delegate.data_received(head)

    # --- frames -----------------------------------------------------------------------------

    def _frames(self, data: bytes) -> None:
        """Parse the client's (masked) frames in ``data`` and act on each complete one."""
        buf = self._buffer + data if self._buffer else data
        pos, size = 0, len(buf)
        limit = self._max_size()
        while size - pos >= 2 and not self._lost:
            first, second = buf[pos], buf[pos + 1]
            length = second & 0x7F
            start = pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                start = pos + 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                start = pos + 10
            opcode = first & 0x0F
            if first & 0x70 or not second & 0x80:
                self._fail(1002, "protocol error")  # reserved bits, or an unmasked frame
                return
            if length > limit:
                self._fail(1009, "message too big")
                return
            end = start + 4 + length
            if end > size:
                break
            payload = apply_mask(buf[start + 4 : end], buf[start : start + 4])
            pos = end
            if not self._frame(bool(first & 0x80), opcode, payload, limit):
                return
        self._buffer = buf[pos:] if pos < size else b""

    def _max_size(self) -> int:
        socket = self.socket
        size = socket.server.max_http_buffer_size if socket is not None else 0
        return int(size or self._config.ws_max_size)

    def _frame(self, fin: bool, opcode: int, payload: bytes, limit: int) -> bool:
        """Act on one frame; False once the connection is failing."""
        if opcode >= CLOSE:
            if not fin or len(payload) > 125:
                self._fail(1002, "bad control frame")
                return False
            if opcode == CLOSE:
                self._closed_by_peer(payload)
                return False
            if opcode == PING:
                self.write(server_frame(PONG, payload))
            elif opcode != PONG:
                self._fail(1002, "unknown opcode")
                return False
            return True
        if opcode == CONTINUATION:
            if self._fragments is None:
                self._fail(1002, "unexpected continuation")
                return False
            self._fragments.append(payload)
            if sum(len(f) for f in self._fragments) > limit:
                self._fail(1009, "message too big")
                return False
            if not fin:
                return True
            payload, opcode = b"".join(self._fragments), self._fragment_opcode
            self._fragments = None
        elif opcode in (TEXT, BINARY):
            if self._fragments is not None:
                self._fail(1002, "expected a continuation")
                return False
            if not fin:
                self._fragments, self._fragment_opcode = [payload], opcode
                return True
        else:
            self._fail(1002, "unknown opcode")
            return False
        return self._message(opcode, payload)

    def _message(self, opcode: int, payload: bytes) -> bool:
        socket = self.socket
        if socket is None or socket.closed or socket.closing:
            return True
        eio = socket.server
        if opcode == BINARY:
            self._receive(lambda: eio._trigger_event("message", socket.sid, payload))
            return True
        kind = payload[:1]
        if kind == _MESSAGE:
            try:
                text = payload[1:].decode()
            except UnicodeDecodeError:
                self._fail(1007, "invalid UTF-8")
                return False
            self._receive(lambda: eio._trigger_event("message", socket.sid, text))
        elif kind == _PONG_EIO:
            self._cancel_timer()
            if not self.close_sent:
                self._timer = self._loop.call_later(eio.ping_interval, self._ping)
        elif kind == _CLOSE_EIO:
            reason = eio.reason.CLIENT_DISCONNECT
            self._receive(lambda: socket.close(wait=False, abort=True, reason=reason))
            self.close(1000)
        elif kind == _PING_EIO:  # not sent by v4 clients; answered like engine.io's PONG
            self.write(text_frame(b"3" + payload[1:]))
        # NOOP (6), UPGRADE (5) and unknown packets are ignored, as engine.io does.
        return True

    def _closed_by_peer(self, payload: bytes) -> None:
        """The client's close frame: answer it (unless we started), then end the TCP
        connection; ``connection_lost`` tells Socket.IO."""
        assert self.transport is not None
        if not self.close_sent:
            self.close_sent = True
            code = payload[:2] if len(payload) >= 2 else b""
            self._send(server_frame(CLOSE, code))
        self._cancel_timer()
        self._flush_backlog()
        self.transport.close()

    def _fail(self, code: int, reason: str) -> None:
        _LOG.info("closing a websocket: %s", reason)
        self.close(code)
        self._flush_backlog()
        if self.transport is not None:
            self.transport.close()

    # --- pings ------------------------------------------------------------------------------

    def _ping(self) -> None:
        """Engine.IO v4: the server pings; the client has ``ping_timeout`` s to answer."""
        socket = self.socket
        if socket is None or socket.closed or socket.closing or self.close_sent:
            self._timer = None
            return
        self.write(_PING_FRAME)
        self._timer = self._loop.call_later(socket.server.ping_timeout, self._ping_timed_out)

    def _ping_timed_out(self) -> None:
        self._timer = None
        socket = self.socket
        if socket is None or socket.closed or socket.closing:
            return
        _LOG.info("sid=%s: no pong in time, closing", socket.sid)
        reason = socket.server.reason.PING_TIMEOUT
        self._receive(lambda: socket.close(wait=False, abort=False, reason=reason))

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # --- handing packets to python-socketio, in order -----------------------------------------

    def _receive(self, step: Callable[[], Awaitable[Any]]) -> None:
        """Run ``step`` after the steps before it (one short-lived task while any wait)."""
        if self._inbox is None:
            self._inbox = deque()
        self._inbox.append(step)
        if self._worker is None:
            self._worker = self._spawn(self._work())

    async def _work(self) -> None:
        inbox = self._inbox
        try:
            while inbox:
                step = inbox.popleft()
                try:
                    await step()
                except Exception:
                    _LOG.exception("websocket message handler failed")
        finally:
            self._worker = None
            self._inbox = None

    def _spawn(self, coroutine: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coroutine)
        tasks = self._server_state.tasks
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return task


def _valid_key(key: str) -> bool:
    try:
        return len(base64.b64decode(key, validate=True)) == 16
    except (binascii.Error, ValueError):
        return False


def bind(server: Any, *, path: str, cors_origins: tuple[str, ...]) -> type[LeanWebSocket]:
    """A ``LeanWebSocket`` class serving python-socketio ``server`` at ``/{path}/``."""
    return type(
        "BoundLeanWebSocket",
        (LeanWebSocket,),
        {
            "realtime_server": server,
            "socketio_path": f"/{path.strip('/')}/",
            "cors_origins": tuple(cors_origins),
            "active": set(),
            "__slots__": (),
            "__module__": __name__,
            "__qualname__": LeanWebSocket.__qualname__,
        },
    )
