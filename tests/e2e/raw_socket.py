"""A Socket.IO client spoken by hand over one TCP connection; no tests here.

Used where a real client library gets in the way: ``RawSocketIO`` can stop reading at
the TCP level (``stop_reading``: asyncio stops reading the socket, and the small
``SO_RCVBUF`` set before connecting keeps the kernel's window small), so the server's
writes to it really block. It speaks just enough of the three layers:

- WebSocket (RFC 6455): the HTTP/1.1 upgrade, masked frames out, unmasked frames in;
- Engine.IO v4: ``0`` open, ``2``/``3`` ping/pong, ``4`` message;
- Socket.IO v5, default namespace: ``0`` connect, ``1`` disconnect, ``2`` event, ``3`` ack.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import socket
from typing import Any, Final

WS_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA


def client_frame(opcode: int, payload: bytes, *, fin: bool = True, masked: bool = True) -> bytes:
    """One client frame: masked (as a client must) unless told otherwise, FIN or not."""
    first = (0x80 if fin else 0) | opcode
    size = len(payload)
    if size < 126:
        length = bytes([size])
    elif size < 1 << 16:
        length = bytes([126]) + size.to_bytes(2, "big")
    else:
        length = bytes([127]) + size.to_bytes(8, "big")
    if not masked:
        return bytes([first, length[0]]) + length[1:] + payload
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([first, 0x80 | length[0]]) + length[1:] + mask + body


class Closed(Exception):
    """The server closed the WebSocket (a close frame) or the TCP connection."""


class RawSocketIO:
    """One Socket.IO connection (websocket transport) over a raw asyncio TCP stream."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.sid = ""
        """The Socket.IO session id (the ``sid`` of the ``40`` connect answer)."""
        self.opened: dict[str, Any] = {}
        """The Engine.IO open packet's data (``sid``, ``upgrades``, ``pingInterval`` ...)."""

    @classmethod
    async def connect(cls, host: str, port: int, *, receive_buffer: int = 4096) -> RawSocketIO:
        """Upgrade to a websocket, open Engine.IO and connect to the default namespace."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)  # before connect
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, (host, port))
        except BaseException:
            sock.close()
            raise
        reader, writer = await asyncio.open_connection(sock=sock)
        client = cls(reader, writer)
        try:
            await client._handshake(f"{host}:{port}")
        except BaseException:
            await client.close()
            raise
        return client

    async def _handshake(self, host: str) -> None:
        key = base64.b64encode(os.urandom(16))
        self._writer.write(
            b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
            b"Host: " + host.encode() + b"\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        head = (await self._reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        status, *lines = head.split("\r\n")
        assert status.split(" ")[1] == "101", head
        headers = {n.strip().lower(): v.strip() for n, _, v in (li.partition(":") for li in lines)}
        accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest()).decode()
        assert headers.get("sec-websocket-accept") == accept, head
        opened = await self.receive()
        assert opened.startswith("0{"), opened  # Engine.IO open: {sid, pingInterval, ...}
        self.opened = json.loads(opened[1:])
        await self.send("40")
        connected = await self.receive()
        assert connected.startswith("40{"), connected
        self.sid = json.loads(connected[2:])["sid"]

    # --- WebSocket frames ---------------------------------------------------------------

    async def send(self, text: str) -> None:
        """One Engine.IO packet, as a masked text frame (a client must mask)."""
        self._write_frame(TEXT, text.encode())
        await self._writer.drain()

    def _write_frame(self, opcode: int, payload: bytes) -> None:
        self._writer.write(client_frame(opcode, payload))

    async def receive(self, *, answer_pings: bool = True) -> str:
        """The next Engine.IO packet (a text message); answers pings on the way (with
        ``answer_pings=False`` an Engine.IO ping, ``"2"``, is returned, unanswered).

        Raises ``Closed`` on a close frame or the end of the TCP stream."""
        message = b""
        while True:
            try:
                first, second = await self._reader.readexactly(2)
                size = second & 0x7F
                if size >= 126:
                    size = int.from_bytes(await self._reader.readexactly(2 if size == 126 else 8))
                assert not second & 0x80, "a server must not mask its frames"
                payload = await self._reader.readexactly(size)
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                raise Closed("the server closed the TCP connection") from exc
            opcode = first & 0x0F
            if opcode == CLOSE:
                raise Closed(f"close frame {payload[:2].hex()} {payload[2:]!r}")
            if opcode == PING:
                self._write_frame(PONG, payload)
                continue
            if opcode == PONG:
                continue
            message += payload
            if first & 0x80:  # FIN: the text message (possibly fragmented) is complete
                text = message.decode()
                if text == "2" and answer_pings:  # Engine.IO ping: not for the caller
                    await self.send("3")
                    message = b""
                    continue
                return text

    @property
    def address(self) -> tuple[str, int]:
        """This end's (host, port): the peer address the server sees."""
        host, port = self._writer.get_extra_info("sockname")[:2]
        return host, port

    # --- Socket.IO ----------------------------------------------------------------------

    async def call(self, event: str, payload: Any, ack_id: int = 0) -> Any:
        """Emit ``event`` with an ack id and wait for the ack (events before it are dropped:
        callers use this before anything is published to them)."""
        await self.send(f"42{ack_id}" + json.dumps([event, payload]))
        prefix = f"43{ack_id}["
        while not (text := await self.receive()).startswith(prefix):
            pass
        return json.loads(text[len(prefix) - 1 :])[0]

    @staticmethod
    def decode(text: str) -> tuple[str, Any]:
        """``("event", [name, payload])`` for ``42[...]``, ``("disconnect", None)`` for
        ``41``, else ``(text, None)``."""
        if text.startswith("42["):
            return "event", json.loads(text[2:])
        if text == "41":
            return "disconnect", None
        return text, None

    # --- reading on and off -------------------------------------------------------------

    def stop_reading(self) -> None:
        """Stop reading the TCP socket: the kernel's receive window fills, then the
        server's sends block."""
        self._writer.transport.pause_reading()

    def resume_reading(self) -> None:
        self._writer.transport.resume_reading()

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()
