"""``GET /asyncapi.json`` on the app ``create_app`` builds (in process, through the
Socket.IO wrapper): the same document as ``docs/schemas/asyncapi.json``."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from infrastructure.settings import Settings
from interfaces.app import create_app
from interfaces.schema_export import render_all

pytestmark = pytest.mark.anyio


async def test_the_app_serves_the_generated_asyncapi_document(tmp_path: Path) -> None:
    # The route needs no services, so the lifespan (and a database) is not needed here.
    settings = Settings.model_validate({"database_url": f"sqlite+aiosqlite:///{tmp_path}/x.db"})
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.get("/asyncapi.json")
        openapi = (await http.get("/openapi.json")).json()
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.text == render_all()["asyncapi.json"]
    assert json.loads(response.text)["asyncapi"] == "3.0.0"
    assert "/asyncapi.json" not in openapi["paths"]
