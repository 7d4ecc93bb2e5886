"""``/api/events``: the global event feed, in position order."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from interfaces.http.commands import json_response
from interfaces.http.deps import ServicesDep
from interfaces.http.models import MAX_POSITION, EventFeed, event_json
from interfaces.http.problems import problem_responses

router = APIRouter(prefix="/api/events", tags=["events"])


@router.get("", response_model=EventFeed, responses=problem_responses(422))
async def events(
    services: ServicesDep,
    after: Annotated[
        int, Query(ge=0, le=MAX_POSITION, description="Events past this position.")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Up to ``limit`` events after ``after``; poll again with ``after=next_after``."""
    recorded = await services.store.read_all(after, limit)
    head = await services.store.head_position()
    next_after = recorded[-1].position if recorded else after
    return json_response(
        {"events": [event_json(e) for e in recorded], "next_after": next_after, "head": head}
    )
