"""Request bodies and small REST helpers shared by the end-to-end tests."""

from __future__ import annotations

from typing import Any

import httpx

JSON = dict[str, Any]


def item(name: str = "Burger", station: str = "grill", **fields: Any) -> JSON:
    return {
        "menu_item_id": f"m-{name.lower()}",
        "name": name,
        "quantity": 2,
        "unit_price": 575,
        "station": station,
        **fields,
    }


def new_order(*items: JSON, **fields: Any) -> JSON:
    """The load harness's body shape: a dine-in order for table 7."""
    return {
        "order_type": "dine_in",
        "table_number": 7,
        "items": list(items) or [item()],
        "notes": "e2e",
        **fields,
    }


def ok(response: httpx.Response, status: int = 200) -> JSON:
    assert response.status_code == status, response.text
    body: JSON = response.json()
    return body


def problem(response: httpx.Response, status: int, code: str) -> JSON:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: JSON = response.json()
    assert body["code"] == code, body
    assert body["status"] == status
    return body


async def place(client: httpx.AsyncClient, body: JSON | None = None, **headers: str) -> JSON:
    return ok(await client.post("/api/orders", json=body or new_order(), headers=headers), 201)
