"""``IndexedManager`` keeps python-socketio's room table exactly as its own manager does.

Random sequences of connects, joins, leaves, room closes and disconnects, on two
namespaces, are applied to ``IndexedManager`` and to python-socketio's ``AsyncManager``
(each behind a real ``socketio.AsyncServer``, nothing served): after every step the room
tables, the pending lists and each socket's rooms are the same, and the index holds
exactly the rooms the table has for each socket.
"""

from __future__ import annotations

import asyncio
from typing import Any

import socketio
from hypothesis import given, settings
from hypothesis import strategies as st

from interfaces.realtime.manager import IndexedManager

NAMESPACES = ("/", "/admin")
ROOMS = ("orders", "kitchen", "kitchen:grill", "order:1")

step = st.one_of(
    st.tuples(st.just("connect"), st.integers(0, 5), st.sampled_from(NAMESPACES)),
    st.tuples(
        st.just("enter"), st.integers(0, 5), st.sampled_from(NAMESPACES), st.sampled_from(ROOMS)
    ),
    st.tuples(
        st.just("leave"), st.integers(0, 5), st.sampled_from(NAMESPACES), st.sampled_from(ROOMS)
    ),
    st.tuples(st.just("close"), st.sampled_from(ROOMS), st.sampled_from(NAMESPACES)),
    st.tuples(st.just("disconnect"), st.integers(0, 5), st.sampled_from(NAMESPACES)),
)


def managers() -> tuple[Any, Any]:
    pair = []
    for manager in (IndexedManager(), socketio.AsyncManager()):
        server = socketio.AsyncServer(async_mode="asgi", client_manager=manager)
        ids = iter(f"id{n}" for n in range(10_000))
        server.eio.generate_id = lambda ids=ids: next(ids)  # same sids on both sides
        pair.append(manager)
    return pair[0], pair[1]


def state(manager: Any) -> Any:
    rooms = {
        ns: {room: dict(members) for room, members in table.items()}
        for ns, table in manager.rooms.items()
    }
    sids = {sid for table in manager.rooms.values() for sid in table.get(None, {})}
    return (
        rooms,
        manager.pending_connect,
        manager.pending_disconnect,
        {(ns, sid): sorted(manager.get_rooms(sid, ns)) for ns in NAMESPACES for sid in sids},
    )


def derived_index(manager: Any) -> dict[str, dict[str, set[Any]]]:
    """namespace -> sid -> rooms, read off the room table (what the index must hold)."""
    index: dict[str, dict[str, set[Any]]] = {}
    for ns, table in manager.rooms.items():
        for room, members in table.items():
            for sid in members:
                index.setdefault(ns, {}).setdefault(sid, set()).add(room)
    return index


async def apply(manager: Any, action: tuple[Any, ...], sids: dict[tuple[int, str], str]) -> None:
    kind = action[0]
    if kind == "connect":
        _, n, ns = action
        if (n, ns) not in sids:
            sid = await manager.connect(f"eio{n}", ns)
            if sid is not None:
                sids[(n, ns)] = sid
    elif kind in ("enter", "leave"):
        _, n, ns, room = action
        sid = sids.get((n, ns))
        if sid is not None:
            if kind == "enter":
                await manager.enter_room(sid, ns, room)
            else:
                await manager.leave_room(sid, ns, room)
    elif kind == "close":
        await manager.close_room(action[1], action[2])
    else:
        _, n, ns = action
        sid = sids.pop((n, ns), None)
        if sid is not None:
            manager.pre_disconnect(sid, ns)
            await manager.disconnect(sid, ns)


@settings(max_examples=300, deadline=None)
@given(st.lists(step, max_size=40))
def test_same_rooms_as_python_socketios_manager(actions: list[tuple[Any, ...]]) -> None:
    async def run() -> None:
        indexed, plain = managers()
        mine: dict[tuple[int, str], str] = {}
        theirs: dict[tuple[int, str], str] = {}
        for action in actions:
            await apply(indexed, action, mine)
            await apply(plain, action, theirs)
            assert state(indexed) == state(plain), action
            assert indexed._rooms_of == derived_index(indexed), action
        assert mine == theirs

    asyncio.run(run())
