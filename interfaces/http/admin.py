"""``POST /api/admin/rebroadcast``: send a range of past events to the live screens again.

The one deliberate exception to "replays never reach screens" (``order-service events
rebroadcast``). Only for this machine: the client must connect from a loopback address
and present the admin token kept in a file beside the database
(``infrastructure.replay.token``). Not in the OpenAPI document.

The events are projected as they were when first pushed (``StoreHistory``, the fold the
Socket.IO resumes use) and routed to the rooms with the live routing; each participant's
socket then gets its share in order, paced by its own writer as a resume is
(``SocketIOBroadcaster.send_paced``), all sockets at once: a range longer than
``send_queue_limit`` reaches a screen that reads instead of disconnecting it as too slow,
and a screen that stops reading is dropped as live publishing would drop it, without
holding up the others. The broadcaster's own history and head are left alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Annotated, Any, Final

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from infrastructure.broadcast import ProjectedEvent
from infrastructure.replay.token import HEADER, token_matches
from interfaces.http.commands import json_response
from interfaces.http.deps import ServicesDep
from interfaces.http.problems import ApiProblem
from interfaces.realtime.broadcaster import NAMESPACE, encode
from interfaces.realtime.history import MAX_REPLAY, ReplayTooLong, StoreHistory
from interfaces.realtime.rooms import route
from interfaces.realtime.server import Realtime

LOOPBACK: Final = frozenset({"127.0.0.1", "::1", "localhost"})


class RebroadcastRange(BaseModel):
    after: int = Field(ge=0, description="Events past this position…")
    until: int = Field(ge=1, description="…up to this one.")


def router(realtime: Realtime) -> APIRouter:
    """The admin routes, sending through ``realtime``'s Socket.IO server."""
    admin = APIRouter(prefix="/api/admin", tags=["admin"], include_in_schema=False)

    @admin.post("/rebroadcast")
    async def rebroadcast(
        body: RebroadcastRange,
        request: Request,
        services: ServicesDep,
        token: Annotated[str | None, Header(alias=HEADER)] = None,
    ) -> Response:
        _authorize(request, services.settings.database_url, token)
        if body.until <= body.after:
            raise ApiProblem(422, "invalid_range", "until must be greater than after")
        history = StoreHistory(services.store, services.read_models, max_events=MAX_REPLAY)
        try:
            events = await history.projected(body.after, body.until)
        except ReplayTooLong as exc:
            raise ApiProblem(422, "range_too_long", str(exc)) from exc
        shares = _shares(realtime, events)
        sent = await asyncio.gather(
            *(_send_paced(realtime, sid, eio_sid, packets) for (sid, eio_sid), packets in shares)
        )
        cut_short = [n < len(packets) for n, (_, packets) in zip(sent, shares, strict=True)]
        return json_response(
            {
                "events": len(events),
                "messages": sum(sent),
                "screens": len(shares),
                "dropped": sum(cut_short),
            }
        )

    return admin


def _authorize(request: Request, database_url: str, token: str | None) -> None:
    client = request.client.host if request.client else None
    if client not in LOOPBACK:
        raise ApiProblem(403, "forbidden", "admin requests are accepted from this machine only")
    if not token_matches(database_url, token):
        raise ApiProblem(403, "forbidden", f"missing or wrong {HEADER}")


_Share = tuple[tuple[str, str], list[Any]]


def _shares(realtime: Realtime, events: Sequence[ProjectedEvent]) -> list[_Share]:
    """Each participant socket's packets, in position order (one encoding per message)."""
    shares: dict[tuple[str, str], list[Any]] = {}
    participants = realtime.server.manager.get_participants
    for projected in events:
        for message in route(projected):
            packet = encode(message.event, message.payload)
            for sid, eio_sid in participants(NAMESPACE, message.room):
                shares.setdefault((sid, eio_sid), []).append(packet)
    return list(shares.items())


async def _send_paced(realtime: Realtime, sid: str, eio_sid: str, packets: list[Any]) -> int:
    """Queue ``packets`` on one socket as its writer takes them; how many were queued
    (fewer once it has gone or was dropped as too slow)."""
    for sent, packet in enumerate(packets):
        if not await realtime.broadcaster.send_paced(sid, eio_sid, packet):
            return sent
    return len(packets)
