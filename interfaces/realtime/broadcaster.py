"""The Socket.IO broadcaster: pushes projected events into rooms and remembers recent ones.

``publish`` is called by the projector after each committed batch. While any socket is
connected, each event is routed and encoded into Engine.IO text for every room it reaches
(``rooms.route_texts``: the payload the rooms share is encoded once), and one engine.io
packet of a room's text is put on every participant's engine.io socket queue in
turn (the socket's own writer task does the network I/O). So publishing
costs one encode per event (and one per station room) plus one queue put per recipient,
starts no task per recipient, costs next to nothing while no socket is connected, and a
slow or dead client
only lengthens its own queue: past ``max_backlog`` queued packets it is disconnected
(it resumes with ``since`` when it comes back).

The put is ``socket.queue.put_nowait`` rather than ``AsyncServer.send_packet``: the
same queue the public call fills, without its per-recipient coroutine, ping check and
log formatting (measured on S3 in ``docs/performance.md``; engine.io's own ping loop
still closes sockets that stop answering).

With ``links`` (``direct.py``), a room message for a socket whose connection is idle is
framed once and written straight to its transport instead (all of one batch's frames for
a socket in one write, at the end of ``publish``); the queue stays the path for every
socket that has anything in flight.

A lean connection (``lean.py``: Socket.IO opened straight over a WebSocket) has no queue:
its frames are written the same way, or wait in its ``backlog`` while its transport is
paused; the bound applies to that backlog, and a socket dropped for being slow also has
its WebSocket closed (aborted if it still does not read within ``stall_timeout``). On
engine.io's path (long polling and its upgrade) a dropped socket whose WebSocket still
does not read within ``stall_timeout`` has its TCP connection aborted
(``WebSocketLinks.cut_off_if_stalled``).

Recent events are kept in a ring (``history_size`` events) for resumes, as each room's
text (bytes only: ``_Entry``): encoded when published while any socket is connected,
else the first time a resume needs it. Joins that are catching up (``resume.py``)
register a ``CatchUp``: while it is active, every message for its room is also appended
to its ``pending`` list, so nothing published during the catch-up is missed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
import socketio
from engineio.packet import MESSAGE, Packet
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from domain.ports import JSON
from infrastructure.broadcast import ProjectedEvent
from interfaces.realtime.direct import WebSocketLinks, text_frame
from interfaces.realtime.lean import LeanSocket, LeanWebSocket, packet_frame
from interfaces.realtime.rooms import route_texts

_LOG = logging.getLogger(__name__)

NAMESPACE: Final = "/"
_HEARTBEAT_SLICE: Final = 64
"""``room:position`` packets queued between two pauses (``announce_positions``)."""
_HEARTBEAT_MAX_PAUSE: Final = 0.1


def encode(event: str, payload: JSON) -> Packet:
    """One Socket.IO EVENT packet for the default namespace, ready for any number of sockets."""
    return _packet(_text(event, payload))


def _text(event: str, payload: JSON) -> bytes:
    """The Engine.IO text of a Socket.IO EVENT for the default namespace (``42[event,
    payload]``), in bytes: what a WebSocket frame carries. Same text as
    ``socketio.packet.Packet(EVENT, data=[event, payload]).encode()`` (orjson keeps
    non-ASCII characters as UTF-8 instead of ``\\u`` escapes, which JSON allows)."""
    return b"42" + orjson.dumps([event, payload])


def _packet(wire: bytes) -> Packet:
    """The engine.io packet of ``wire`` (for a socket's queue)."""
    packet: Packet = Packet(MESSAGE, wire[1:].decode())
    return packet


@dataclass(slots=True)
class CatchUp:
    """A socket joining ``room`` that is not in it yet: live messages wait in ``pending``."""

    sid: str
    room: str
    pending: list[tuple[int, Packet]] = field(default_factory=list)
    active: bool = True


class _Entry:
    """One published event in the ring, as each room's message in Engine.IO text.

    An event published while any socket is connected is encoded when it is published, for
    every room it reaches (``route_texts``: one encoding of the payload the rooms share,
    plus one per station), listened to or not; the entry then keeps only bytes (a dict of
    strings to bytes, which the garbage collector does not track) and drops the projected
    event: its order view, the stored event and the states behind them. Every event stays
    in the ring for seconds, so whatever an entry holds is walked by the young and middle
    collections, whose pauses are the service's own share of S2's tail
    (``docs/performance.md``). An event published while no socket is connected (S1's
    load) keeps its projected event and is encoded the first time a resume needs it.
    """

    __slots__ = ("_wires", "position", "projected")

    def __init__(self, projected: ProjectedEvent) -> None:
        self.position = projected.position
        self.projected: ProjectedEvent | None = projected
        self._wires: dict[str, bytes] | None = None

    def wires(self) -> dict[str, bytes]:
        """Room -> the text it gets for this event (encoded on the first call)."""
        wires = self._wires
        if wires is None:
            assert self.projected is not None
            wires = self._wires = route_texts(self.projected)
            self.projected = None
        return wires

    def wire(self, room: str) -> bytes | None:
        """The text ``room`` gets for this event (None: it gets nothing)."""
        return self.wires().get(room)


class SocketIOBroadcaster:
    """Implements ``infrastructure.broadcast.Broadcaster`` over a python-socketio server."""

    def __init__(
        self,
        server: socketio.AsyncServer,
        *,
        history_size: int = 5_000,
        max_backlog: int = 10_000,
        stall_timeout: float = 30.0,
        links: WebSocketLinks | None = None,
    ) -> None:
        """``max_backlog``: packets queued on one socket past which it is disconnected.
        ``stall_timeout``: how long a replay (``send_paced``) waits for a socket's writer to
        take what is queued before it disconnects the socket as too slow.
        ``links``: the sockets' WebSocket connections, for writing live messages straight
        to idle ones (``direct.py``, when ``links.direct``) and for cutting off a dropped
        socket that still does not read; None: every message goes through the queues."""
        if history_size < 1 or max_backlog < 1 or stall_timeout <= 0:
            raise ValueError("history_size and max_backlog must be >= 1, stall_timeout > 0")
        self._server = server
        self._ring: deque[_Entry] = deque(maxlen=history_size)
        self._started = False
        self._head = 0
        self._covered_from = 0
        """The ring holds every event with a position above this one (up to ``head``)."""
        self._catch_ups: dict[str, dict[str, CatchUp]] = {}
        self._last_sent: dict[str, float] = {}
        self._max_backlog = max_backlog
        self._window = max(1, max_backlog // 2)
        self._stall_timeout = stall_timeout
        self._dropping: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._links = links
        self._writes: dict[WebSocketsSansIOProtocol | LeanWebSocket, list[bytes]] = {}
        """Frames for idle sockets, gathered during one ``publish`` and written at its end."""

    # --- positions ------------------------------------------------------------------------

    @property
    def head(self) -> int:
        """The last position published: every room has been sent every event up to it."""
        return self._head

    def start_at(self, position: int) -> None:
        """Where publishing starts (the projector's position), unless a batch came first."""
        if not self._started:
            self._started = True
            self._head = self._covered_from = position

    # --- publishing -----------------------------------------------------------------------

    async def publish(self, batch: Sequence[ProjectedEvent]) -> None:
        if batch:
            self.start_at(batch[0].position - 1)
        try:
            self._publish(batch)
        finally:
            if self._writes:
                self._flush()

    def _publish(self, batch: Sequence[ProjectedEvent]) -> None:
        for projected in batch:
            if projected.position <= self._head:
                continue  # already published (a batch retried after a failure)
            if projected.position > self._head + 1:
                # Positions were never broadcast (a publish failed): the ring cannot replay
                # across the hole, so older resumes are rebuilt from the store.
                _LOG.warning(
                    "positions %d..%d were not broadcast", self._head + 1, projected.position - 1
                )
                self._covered_from = projected.position - 1
            entry = _Entry(projected)
            rooms = self._server.manager.rooms.get(NAMESPACE) or {}
            if rooms or self._catch_ups:
                catch_ups = self._catch_ups
                for room, wire in entry.wires().items():
                    if room in rooms or room in catch_ups:
                        self._deliver(room, entry.position, wire)
            self._remember(entry)
            self._head = projected.position

    def _flush(self) -> None:
        """Write the frames gathered for idle sockets: one write per socket. ``_publish``
        never awaits, so nothing reached those sockets between the check and the write."""
        writes, self._writes = self._writes, {}
        for protocol, frames in writes.items():
            self._write(protocol, frames)

    def _write(
        self, protocol: WebSocketsSansIOProtocol | LeanWebSocket, frames: list[bytes]
    ) -> None:
        if isinstance(protocol, LeanWebSocket):
            protocol.write_frames(frames)
        else:
            assert self._links is not None
            self._links.write(protocol, frames)

    def _remember(self, entry: _Entry) -> None:
        if len(self._ring) == self._ring.maxlen:
            self._covered_from = self._ring[0].position
        self._ring.append(entry)

    def _deliver(self, room: str, position: int, wire: bytes) -> None:
        packet = None  # for queues and catch-ups: one packet object for all of them
        if room in self._catch_ups:
            packet = _packet(wire)
            for catch_up in self._catch_ups[room].values():
                catch_up.pending.append((position, packet))
        participants = list(self._server.manager.get_participants(NAMESPACE, room))
        if participants:
            self._last_sent[room] = time.monotonic()
        sockets = self._server.eio.sockets
        writes, frame = self._writes, None
        for sid, eio_sid in participants:
            socket = sockets.get(eio_sid)
            protocol = self._writable(sid, eio_sid, socket)
            if protocol is not None:
                if frame is None:
                    frame = text_frame(wire)
                pending = writes.get(protocol)
                if pending is None:
                    writes[protocol] = [frame]
                else:
                    pending.append(frame)
                continue
            if packet is None:
                packet = _packet(wire)
            self._put(sid, socket, packet)

    def _writable(
        self, sid: str, eio_sid: str, socket: Any
    ) -> WebSocketsSansIOProtocol | LeanWebSocket | None:
        """The connection to write straight to (an idle lean one, or ``direct.py``), or
        None: use ``_put``."""
        if socket is None or sid in self._dropping:
            return None
        if type(socket) is LeanSocket:
            conn = socket.conn
            return conn if not socket.closed and conn.backlog is None else None
        if self._links is None:
            return None
        return self._links.writable(eio_sid, socket)

    async def send(self, sid: str, eio_sid: str | None, packet: Packet) -> None:
        """Queue ``packet`` on one socket; never waits on the network, never raises."""
        self._put(sid, self._server.eio.sockets.get(eio_sid) if eio_sid else None, packet)

    async def send_paced(self, sid: str, eio_sid: str | None, packet: Packet) -> bool:
        """Queue ``packet`` on one socket for a replay, which may be longer than the bound:
        while half the bound is queued, first wait (at most ``stall_timeout`` s) for the
        socket's writer to take it. False once the socket is gone or dropped as too slow.
        """
        socket = self._server.eio.sockets.get(eio_sid) if eio_sid else None
        if socket is None or socket.closed or sid in self._dropping:
            return False
        if type(socket) is LeanSocket:
            if socket.conn.pending >= self._window and not await socket.conn.drained(
                self._stall_timeout
            ):
                self._drop_slow(sid)
                return False
        elif socket.queue.qsize() >= self._window:
            try:
                async with asyncio.timeout(self._stall_timeout):
                    await socket.queue.join()  # engine.io marks each packet done as it takes it
            except TimeoutError:
                self._drop_slow(sid)
                return False
        self._put(sid, socket, packet)
        return not socket.closed and sid not in self._dropping

    def _put(self, sid: str, socket: Any, packet: Packet) -> None:
        if socket is None or socket.closed or sid in self._dropping:
            # Once a socket is to be dropped it gets nothing more, even if its queue drains
            # before the disconnect runs: what it received stays a gapless prefix.
            return
        if type(socket) is LeanSocket:
            if socket.conn.pending >= self._max_backlog:
                self._drop_slow(sid)
            else:
                socket.conn.write(packet_frame(packet))
            return
        queue = socket.queue
        if queue.qsize() >= self._max_backlog:
            self._drop_slow(sid)
            return
        queue.put_nowait(packet)

    def _drop_slow(self, sid: str) -> None:
        if sid in self._dropping:
            return
        _LOG.warning("disconnecting sid=%s: more than %d packets queued", sid, self._max_backlog)
        self._dropping.add(sid)
        task = asyncio.create_task(self._disconnect_slow(sid))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _: self._dropping.discard(sid))

    async def _disconnect_slow(self, sid: str) -> None:
        eio_sid = self._server.manager.eio_sid_from_sid(sid, NAMESPACE)
        await self._server.disconnect(sid, namespace=NAMESPACE)
        socket = self._server.eio.sockets.get(eio_sid) if eio_sid else None
        if type(socket) is LeanSocket:
            # After the disconnect packet: a screen that reads again gets everything up to
            # it, one that does not is cut off once ``stall_timeout`` has passed (on
            # engine.io's path, ``forget`` sees to that).
            socket.conn.close(1000, grace=self._stall_timeout)

    # --- history and catch-ups --------------------------------------------------------------

    def history(self, room: str, after: int) -> list[tuple[int, Packet]] | None:
        """The room's messages with position > ``after`` up to ``head``, oldest first;
        None when the ring no longer reaches back to ``after``."""
        if after < self._covered_from:
            return None
        messages: list[tuple[int, Packet]] = []
        for entry in self._entries_after(after):
            wire = entry.wire(room)
            if wire is not None:
                messages.append((entry.position, _packet(wire)))
        return messages

    def _entries_after(self, after: int) -> list[_Entry]:
        newer: list[_Entry] = []
        for entry in reversed(self._ring):
            if entry.position <= after:
                break
            newer.append(entry)
        newer.reverse()
        return newer

    def begin_catch_up(self, sid: str, room: str) -> CatchUp:
        """From now on, ``room``'s messages are also kept for ``sid`` (replacing a previous
        catch-up of the same socket and room)."""
        self.end_catch_up(sid, room)
        catch_up = CatchUp(sid, room)
        self._catch_ups.setdefault(room, {})[sid] = catch_up
        return catch_up

    def end_catch_up(self, sid: str, room: str) -> None:
        waiting = self._catch_ups.get(room)
        if waiting is None:
            return
        catch_up = waiting.pop(sid, None)
        if catch_up is not None:
            catch_up.active = False
        if not waiting:
            del self._catch_ups[room]

    def forget(self, sid: str) -> None:
        """A socket disconnected (called from its disconnect handler, while python-socketio
        still knows its engine.io session): stop every catch-up it had. On engine.io's
        path, its WebSocket is cut off if its peer still does not read ``stall_timeout``
        s from now (dropped as too slow, or timed out on pings with its buffers full)."""
        for room in [r for r, waiting in self._catch_ups.items() if sid in waiting]:
            self.end_catch_up(sid, room)
        if self._links is not None:
            eio_sid = self._server.manager.eio_sid_from_sid(sid, NAMESPACE)
            if eio_sid:
                self._links.cut_off_if_stalled(eio_sid, self._stall_timeout)

    # --- room:position heartbeat ------------------------------------------------------------

    async def heartbeat(self, interval: float) -> None:
        """Every ``interval`` s, tell each room quiet for that long the position it is at."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.announce_positions(quiet_for=interval)
            except Exception:  # a heartbeat that failed once must keep beating
                _LOG.exception("room:position heartbeat failed")

    async def announce_positions(self, quiet_for: float = 0.0) -> None:
        """Send ``room:position`` to the rooms quiet for ``quiet_for`` s.

        Rooms of thousands of idle screens are written in slices of ``_HEARTBEAT_SLICE``
        sockets spread over half of ``quiet_for``, so the beat never holds the loop (requests
        and live events would wait behind thousands of writes); a room that gets a live
        event meanwhile is not told more (its screens have a newer position).
        """
        now = time.monotonic()
        rooms = self._server.manager.rooms.get(NAMESPACE, {})
        quiet: list[tuple[str, list[tuple[str, str]]]] = []
        for room in [r for r in rooms if self._is_shared_room(r)]:
            if now - self._last_sent.get(room, 0.0) < quiet_for:
                continue
            self._last_sent[room] = now
            quiet.append((room, list(self._server.manager.get_participants(NAMESPACE, room))))
        slices = sum(-(-len(p) // _HEARTBEAT_SLICE) for _, p in quiet)
        pause = min(_HEARTBEAT_MAX_PAUSE, quiet_for * 0.5 / slices) if slices > 1 else 0.0
        for n, (room, participants) in enumerate(quiet):
            wire = _text("room:position", {"room": room, "position": self._head})
            packet, frame = _packet(wire), text_frame(wire)
            for start in range(0, len(participants), _HEARTBEAT_SLICE):
                if start or n:
                    await asyncio.sleep(pause)
                    if self._last_sent.get(room) != now:
                        break  # a live event reached the room meanwhile
                sockets = self._server.eio.sockets
                for sid, eio_sid in participants[start : start + _HEARTBEAT_SLICE]:
                    # Straight to an idle screen: no writer task woken (and no wait_for task
                    # and timer re-made) per screen per beat.
                    socket = sockets.get(eio_sid)
                    protocol = self._writable(sid, eio_sid, socket)
                    if protocol is not None:
                        self._write(protocol, [frame])
                    else:
                        self._put(sid, socket, packet)
        for room in [r for r in self._last_sent if r not in rooms]:
            del self._last_sent[room]

    def _is_shared_room(self, room: str | None) -> bool:
        return room is not None and not self._server.manager.is_sid_room(NAMESPACE, room)
