"""Joining a room with no gap and no duplicate: a snapshot or a replay, then live events.

``RoomJoiner.join`` runs in the join's handler:

1. Take the socket out of the room and register a catch-up (no await between):
   from here on every message for the room is also kept in the catch-up's
   ``pending`` list. ``head`` (the broadcaster's last published position) is
   noted.
2. Without ``since``: read the snapshot and the position it reflects in one
   read transaction. The projector commits the read models before it publishes,
   so a read begun after step 1 is at least at ``head``. Joins of the same room
   share one read while it runs (a burst of screens reconnecting costs one read per
   room, not one per screen, and never drains the read-model pool): a join that
   took a read begun before its step 1 may get an older position than its
   ``head``, and replays the room's messages in between like a ``since`` join.
   With ``since``: the position is ``since``; the room's messages in
   (``since``, ``head``] come from the broadcaster's ring, or, when ``since`` is
   older than the ring (e.g. after a restart), are rebuilt from the store.
3. Return the ack; a follow-up task (scheduled before returning, so it runs after
   the ack is queued) sends the replay, then the pending messages past the last
   position sent, and, in the same step in which it finds ``pending`` empty,
   puts the socket in the room and ends the catch-up. Every message is sent
   once, in position order, whatever is published while this happens. The sends
   are paced by the socket's writer (``SocketIOBroadcaster.send_paced``), so a
   replay longer than the send queue bound does not trip it.

A leave or a disconnect ends the catch-up; the follow-up task then stops
without entering the room.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import socketio
from engineio.packet import Packet

from domain.ports import EventStore
from infrastructure.broadcast import ProjectedEvent
from infrastructure.read_models import ReadModels, ReadSnapshot
from interfaces.realtime.broadcaster import NAMESPACE, CatchUp, SocketIOBroadcaster, encode
from interfaces.realtime.rooms import route

_LOG = logging.getLogger(__name__)

SnapshotReader = Callable[[ReadSnapshot], Awaitable[Any]]
"""Reads one room's snapshot inside a read transaction."""


class _Gone(Exception):
    """The socket went away (or was dropped as too slow) during its catch-up."""


class Sources(Protocol):
    """What joins read (``interfaces.services.Services`` has these)."""

    @property
    def store(self) -> EventStore: ...

    @property
    def read_models(self) -> ReadModels: ...


class History(Protocol):
    """Rebuilds projected events from the store for resumes older than the ring."""

    async def projected(self, after: int, until: int) -> Sequence[ProjectedEvent]:
        """The events with ``after < position <= until``, projected as they were then."""
        ...


class SinceAhead(ValueError):
    """``since`` is beyond the last stored event."""


@dataclass(frozen=True, slots=True)
class Joined:
    position: int
    """The snapshot's position; after a ``since`` join, the broadcaster's head when it began
    (or ``since`` if that is later)."""
    snapshot: Any
    with_snapshot: bool


async def _read(sources: Sources, read_snapshot: SnapshotReader) -> tuple[int, Any]:
    async with sources.read_models.snapshot() as snap:
        return snap.position, await read_snapshot(snap)


class RoomJoiner:
    """Puts sockets into rooms through a catch-up (see the module docstring)."""

    def __init__(self, server: socketio.AsyncServer, hub: SocketIOBroadcaster) -> None:
        self._server = server
        self._hub = hub
        self._tasks: set[asyncio.Task[None]] = set()
        self._reads: dict[str, asyncio.Future[tuple[int, Any]]] = {}
        """Each room's snapshot read in progress, shared by the joins that arrive meanwhile."""

    async def join(
        self,
        sid: str,
        room: str,
        since: int | None,
        sources: Sources,
        read_snapshot: SnapshotReader,
        history: History | None,
    ) -> Joined:
        if since is not None and since > await sources.store.head_position():
            raise SinceAhead(f"since={since} is beyond the last event")
        self._server.manager.basic_leave_room(sid, NAMESPACE, room)
        catch_up = self._hub.begin_catch_up(sid, room)
        head = self._hub.head
        try:
            if since is None:
                after, snapshot = await self._shared_read(room, sources, read_snapshot)
                joined = Joined(after, snapshot, True)
            else:
                after, joined = since, Joined(max(since, head), None, False)
            replay = await self._replay(room, after, head, history)
        except BaseException:
            self._hub.end_catch_up(sid, room)
            raise
        task = asyncio.create_task(self._finish(catch_up, replay, after))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return joined

    async def _shared_read(
        self, room: str, sources: Sources, read_snapshot: SnapshotReader
    ) -> tuple[int, Any]:
        """``room``'s snapshot and its position: the read in progress, or a new one."""
        read = self._reads.get(room)
        if read is None:
            read = asyncio.ensure_future(_read(sources, read_snapshot))
            self._reads[room] = read
            read.add_done_callback(functools.partial(self._read_done, room))
        # One join going away (a disconnect cancels its handler) leaves the read to the rest.
        return await asyncio.shield(read)

    def _read_done(self, room: str, read: asyncio.Future[tuple[int, Any]]) -> None:
        if self._reads.get(room) is read:
            del self._reads[room]
        if not read.cancelled():
            read.exception()  # retrieved: every join that waited has had it raised

    def forget(self, sid: str) -> None:
        """``sid`` disconnected: its catch-ups end (the manager already emptied its rooms)."""
        self._hub.forget(sid)

    def leave(self, sid: str, room: str) -> None:
        self._hub.end_catch_up(sid, room)
        self._server.manager.basic_leave_room(sid, NAMESPACE, room)

    async def _replay(
        self, room: str, after: int, head: int, history: History | None
    ) -> list[tuple[int, Packet]]:
        if after >= head:
            return []
        recent = self._hub.history(room, after)
        if recent is not None:
            return recent
        if history is None:
            raise LookupError(f"no history source to replay {room} after {after}")
        events = await history.projected(after, head)
        return [
            (p.position, encode(m.event, m.payload))
            for p in events
            for m in route(p)
            if m.room == room
        ]

    async def _finish(
        self, catch_up: CatchUp, replay: list[tuple[int, Packet]], after: int
    ) -> None:
        sid, room = catch_up.sid, catch_up.room
        try:
            last = await self._send(sid, replay, after)
            while catch_up.active:
                pending, catch_up.pending = catch_up.pending, []
                if not any(position > last for position, _ in pending):
                    # No await from the emptiness check to here: nothing can slip between.
                    self._hub.end_catch_up(sid, room)
                    if self._server.manager.is_connected(sid, NAMESPACE):
                        self._server.manager.basic_enter_room(sid, NAMESPACE, room)
                    return
                last = await self._send(sid, pending, last)
        except _Gone:  # disconnected (or dropped as too slow) during its catch-up
            self._hub.end_catch_up(sid, room)
        except Exception:
            _LOG.exception("catch-up of sid=%s for room %s failed; disconnecting it", sid, room)
            self._hub.end_catch_up(sid, room)
            await self._server.disconnect(sid, namespace=NAMESPACE)

    async def _send(self, sid: str, messages: list[tuple[int, Packet]], after: int) -> int:
        """Send the messages past ``after``, in order; the last position sent."""
        eio_sid = self._server.manager.eio_sid_from_sid(sid, NAMESPACE)
        for position, packet in messages:
            if position > after:
                if not await self._hub.send_paced(sid, eio_sid, packet):
                    raise _Gone
                after = position
        return after
