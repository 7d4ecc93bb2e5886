"""python-socketio's client manager, with an index of the rooms each socket is in.

python-socketio keeps ``rooms[namespace][room][sid] = eio_sid`` and nothing from a socket
to its rooms, so ``basic_disconnect`` (and ``get_rooms``) scan every room of the
namespace to find the socket's. Every socket has a room of its own (its sid), so each
disconnect is O(connections), and N screens leaving at once (a network blip, a restart
of the kitchen's access point) cost O(N²): ~0.8 ms per disconnect with 5,000 connected,
seconds of a blocked event loop in all (``docs/performance.md``).

``IndexedManager`` keeps ``namespace -> sid -> rooms`` beside python-socketio's table,
updated in the two places every join and leave goes through (``basic_enter_room`` and
``basic_leave_room``), and leaves exactly those rooms on a disconnect.
"""

from __future__ import annotations

from typing import Any

import socketio


class IndexedManager(socketio.AsyncManager):  # type: ignore[misc]
    """``socketio.AsyncManager`` whose disconnects leave the socket's own rooms only."""

    def __init__(self) -> None:
        super().__init__()
        self._rooms_of: dict[str, dict[str, set[Any]]] = {}
        """namespace -> sid -> the rooms it is in (None: the namespace's connected set)."""

    def basic_enter_room(
        self, sid: str, namespace: str, room: Any, eio_sid: str | None = None
    ) -> None:
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)  # raises first
        self._rooms_of.setdefault(namespace, {}).setdefault(sid, set()).add(room)

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        super().basic_leave_room(sid, namespace, room)
        sids = self._rooms_of.get(namespace)
        rooms = sids.get(sid) if sids is not None else None
        if rooms is None:
            return
        rooms.discard(room)
        if not rooms:
            del sids[sid]  # type: ignore[union-attr]
            if not sids:
                del self._rooms_of[namespace]

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        """``BaseManager.basic_disconnect`` without its scan of every room."""
        if namespace not in self.rooms:
            return
        for room in list(self._rooms_of.get(namespace, {}).get(sid, ())):
            self.basic_leave_room(sid, namespace, room)
        # The rest as python-socketio does it (5.x): its callbacks and pending lists.
        self.callbacks.pop(sid, None)
        for pending in (self.pending_connect, self.pending_disconnect):
            waiting = pending.get(namespace)
            if waiting is not None and sid in waiting:
                waiting.remove(sid)
                if not waiting:
                    del pending[namespace]

    def get_rooms(self, sid: str, namespace: str) -> list[Any]:
        """The rooms ``sid`` is in (not the namespace's connected set), from the index."""
        return [r for r in self._rooms_of.get(namespace, {}).get(sid, ()) if r is not None]
