"""``/api/kitchen``: the kitchen board (orders sent and not yet served)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from interfaces.http.commands import json_response
from interfaces.http.deps import ReadModelsDep
from interfaces.http.models import KitchenBoard
from interfaces.http.problems import problem_responses
from interfaces.realtime.models import Station

router = APIRouter(prefix="/api/kitchen", tags=["kitchen"])


@router.get("/tickets", response_model=KitchenBoard, responses=problem_responses(422))
async def kitchen_tickets(
    read_models: ReadModelsDep,
    station: Annotated[Station | None, Query(description="Only this station's items.")] = None,
) -> Response:
    """Tickets oldest first; ``position`` is the event position the board reflects."""
    async with read_models.snapshot() as snapshot:
        tickets = await snapshot.kitchen_tickets(station)
    return json_response({"tickets": tickets, "position": snapshot.position})
