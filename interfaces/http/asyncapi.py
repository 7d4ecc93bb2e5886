"""``GET /asyncapi.json``: the AsyncAPI 3.0 document of the Socket.IO API.

The same text as ``docs/schemas/asyncapi.json``, built from the code on the first
request and kept (the wire models do not change while the process runs).
"""

from __future__ import annotations

from functools import cache

from fastapi import APIRouter
from fastapi.responses import Response

from interfaces.schema_export.asyncapi import render_asyncapi

router = APIRouter(tags=["documentation"])


@router.get("/asyncapi.json", include_in_schema=False)
async def asyncapi() -> Response:
    """The Socket.IO API as AsyncAPI 3.0 (rooms, events, joins with their acks)."""
    return Response(_document(), media_type="application/json")


@cache
def _document() -> bytes:
    return render_asyncapi().encode()
