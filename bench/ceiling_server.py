"""The ceiling for ``fanout_bench.py``: FastAPI + python-socketio with no persistence.

A small copy of the shared bench's ``peer-py-limit/app.py``: ``POST /api/orders`` keeps the
order in a dict and emits ``order:created`` to the ``kitchen`` and ``orders`` rooms before
answering 201; ``join:kitchen`` / ``join:orders`` enter the room (and ack ``{ok: true}``).
Same stack as the service (uvicorn with uvloop + httptools, websockets-sansio, no
per-message deflate), so the difference to the service is the service's own work.

usage: python bench/ceiling_server.py [--host 127.0.0.1] [--port 8010]
"""

from __future__ import annotations

import argparse
import uuid
from datetime import UTC, datetime
from typing import Any

import socketio
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel, Field


class ItemIn(BaseModel):
    menu_item_id: str = Field(min_length=1)
    name: str = ""
    quantity: int = Field(ge=1)
    unit_price: int = Field(default=0, ge=0)
    station: str | None = None


class OrderIn(BaseModel):
    order_type: str = "dine_in"
    table_number: int | None = None
    items: list[ItemIn] = Field(min_length=1)
    notes: str | None = None


def build_app() -> Any:
    sio = socketio.AsyncServer(
        async_mode="asgi", cors_allowed_origins="*", ping_interval=25, ping_timeout=60
    )
    api = FastAPI()
    orders: dict[str, dict[str, Any]] = {}

    @api.post("/api/orders", status_code=201)
    async def create_order(body: OrderIn) -> dict[str, Any]:
        now = datetime.now(UTC).isoformat()
        order = {
            "id": str(uuid.uuid4()),
            "order_type": body.order_type,
            "table_number": body.table_number,
            "status": "sent",
            "notes": body.notes,
            "items": [item.model_dump() for item in body.items],
            "created_at": now,
            "updated_at": now,
        }
        orders[order["id"]] = order
        await sio.emit("order:created", order, to=["kitchen", "orders"])
        return order

    @sio.on("join:kitchen")  # type: ignore[untyped-decorator,misc]
    async def join_kitchen(sid: str, *args: Any) -> dict[str, Any]:
        await sio.enter_room(sid, "kitchen")
        return {"ok": True, "room": "kitchen"}

    @sio.on("join:orders")  # type: ignore[untyped-decorator,misc]
    async def join_orders(sid: str, *args: Any) -> dict[str, Any]:
        await sio.enter_room(sid, "orders")
        return {"ok": True, "room": "orders"}

    return socketio.ASGIApp(sio, other_asgi_app=api)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8010)
    args = parser.parse_args()
    uvicorn.run(
        build_app(),
        host=args.host,
        port=args.port,
        loop="auto",
        http="auto",
        ws="auto",
        ws_per_message_deflate=False,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
