"""An order's whole life through the REST API of a real server."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.e2e.orders import item, new_order, ok, place, problem

pytestmark = pytest.mark.anyio


async def test_place_fire_bump_recall_void_serve_complete(client: httpx.AsyncClient) -> None:
    placed = await place(client, new_order(item("Burger"), item("Beer", station="bar")))
    order = placed["order"]
    assert placed["id"] == order["id"]
    assert placed["stale"] is False and placed["position"] == order["position"]
    assert order["status"] == "sent" and order["number"] == 1
    assert [i["status"] for i in order["items"]] == ["sent", "sent"]
    assert order["total"] == 2 * 575 * 2
    order_id = order["id"]
    burger, beer = (i["id"] for i in order["items"])
    path = f"/api/orders/{order_id}"

    bumped = ok(await client.post(f"{path}/items/{burger}/bump"))["order"]
    assert bumped["status"] == "sent"
    bumped = ok(await client.post(f"{path}/items/{beer}/bump"))["order"]
    assert bumped["status"] == "ready", "the last bump makes the order ready by itself"
    assert {i["status"] for i in bumped["items"]} == {"ready"}

    recalled = ok(await client.post(f"{path}/items/{beer}/recall"))["order"]
    assert recalled["status"] == "preparing"
    assert recalled["items"][1]["status"] == "sent"

    voided = ok(await client.post(f"{path}/items/{beer}/void", json={"reason": "spilled"}))
    beer_line = voided["order"]["items"][1]
    assert (beer_line["status"], beer_line["void_reason"]) == ("voided", "spilled")
    assert voided["order"]["status"] == "ready"
    assert voided["order"]["total"] == 2 * 575

    served = ok(await client.patch(f"{path}/status", json={"status": "served"}))["order"]
    assert served["status"] == "served"
    completed = ok(await client.patch(f"{path}/status", json={"status": "completed"}))["order"]
    assert completed["status"] == "completed"

    late = await client.post(f"{path}/items", json={"items": [item()]})
    problem(late, 409, "order_closed")

    history = ok(await client.get(f"{path}/events"))
    types = [e["type"] for e in history["events"]]
    assert types[:2] == ["OrderPlaced", "ItemsFired"]
    assert types[-1] == "OrderStatusChanged"
    assert [e["stream_version"] for e in history["events"]] == list(range(1, len(types) + 1))
    assert ok(await client.get(path))["version"] == len(types)


async def test_kitchen_board_follows_the_order(client: httpx.AsyncClient) -> None:
    placed = await place(client, new_order(item("Burger"), item("Beer", station="bar")))
    order_id = placed["id"]
    board = ok(await client.get("/api/kitchen/tickets"))
    assert [t["order_id"] for t in board["tickets"]] == [order_id]
    assert board["position"] >= placed["position"]
    bar = ok(await client.get("/api/kitchen/tickets", params={"station": "bar"}))
    assert [i["name"] for i in bar["tickets"][0]["items"]] == ["Beer"]
    reason = {"status": "cancelled", "reason": "guest left"}
    ok(await client.patch(f"/api/orders/{order_id}/status", json=reason))
    assert ok(await client.get("/api/kitchen/tickets"))["tickets"] == []


async def test_open_order_is_edited_then_discarded(client: httpx.AsyncClient) -> None:
    placed = await place(client, new_order(item("Soup"), fire=False))
    order = placed["order"]
    assert order["status"] == "open" and order["items"][0]["status"] == "new"
    path = f"/api/orders/{order['id']}"
    soup = order["items"][0]["id"]

    changed = ok(await client.patch(path, json={"table_number": 12, "guest_count": 3}))
    assert (changed["order"]["table_number"], changed["order"]["guest_count"]) == (12, 3)
    changed = ok(await client.patch(f"{path}/items/{soup}", json={"quantity": 5, "notes": None}))
    assert changed["order"]["items"][0]["quantity"] == 5
    added = ok(await client.post(f"{path}/items", json={"items": [item("Salad")]}))
    salad = added["order"]["items"][1]["id"]
    held = ok(await client.post(f"{path}/hold", json={"item_ids": [salad]}))
    assert held["order"]["items"][1]["status"] == "held"
    removed = ok(await client.delete(f"{path}/items/{salad}"))
    assert [i["id"] for i in removed["order"]["items"]] == [soup]

    discarded = ok(await client.delete(path))
    assert discarded["id"] == order["id"] and discarded["position"] > placed["position"]
    assert discarded["stale"] is False
    problem(await client.get(path), 404, "order_not_found")
    problem(await client.post(f"{path}/fire"), 404, "order_not_found")
    listed = ok(await client.get("/api/orders"))
    assert order["id"] not in [o["id"] for o in listed["items"]]


async def test_removing_a_sent_item_is_refused_with_void_advice(
    client: httpx.AsyncClient,
) -> None:
    placed = await place(client)
    order_id, item_id = placed["id"], placed["order"]["items"][0]["id"]
    refused = problem(
        await client.delete(f"/api/orders/{order_id}/items/{item_id}"), 409, "item_already_sent"
    )
    assert "void" in refused["detail"]
    assert refused["instance"] == f"/api/orders/{order_id}/items/{item_id}"
    problem(await client.delete(f"/api/orders/{order_id}"), 409, "order_not_open")


async def test_fire_later_and_hold_release(client: httpx.AsyncClient) -> None:
    placed = await place(client, new_order(item("Steak"), item("Fries"), fire=False))
    path = f"/api/orders/{placed['id']}"
    steak, fries = (i["id"] for i in placed["order"]["items"])
    ok(await client.post(f"{path}/hold", json={"item_ids": [fries]}))
    fired = ok(await client.post(f"{path}/fire"))["order"]
    assert fired["status"] == "sent"
    assert [i["status"] for i in fired["items"]] == ["sent", "held"]
    ok(await client.post(f"{path}/hold", json={"release": True}))
    fired = ok(await client.post(f"{path}/fire", json={"item_ids": [fries]}))["order"]
    assert [i["status"] for i in fired["items"]] == ["sent", "sent"]
    problem(await client.post(f"{path}/fire"), 409, "nothing_to_fire")
    problem(await client.post(f"{path}/items/{steak}/recall"), 409, "item_not_ready")
    problem(await client.post(f"{path}/items/nope/bump"), 404, "item_not_found")


async def test_list_filters_and_cursor_pages(client: httpx.AsyncClient) -> None:
    ids = [(await place(client, new_order(table_number=t)))["id"] for t in (1, 2, 3)]
    takeout = await place(client, {"order_type": "takeout", "items": [item()], "fire": False})
    page = ok(await client.get("/api/orders", params={"limit": 2}))
    assert [o["id"] for o in page["items"]] == [takeout["id"], ids[2]]
    rest = ok(await client.get("/api/orders", params={"limit": 2, "cursor": page["next_cursor"]}))
    assert [o["id"] for o in rest["items"]] == [ids[1], ids[0]]
    assert rest["next_cursor"] is None
    sent = ok(await client.get("/api/orders", params={"status": ["sent", "ready"]}))
    assert [o["id"] for o in sent["items"]] == ids[::-1]
    by_table = ok(await client.get("/api/orders", params={"table_number": 2}))
    assert [o["id"] for o in by_table["items"]] == [ids[1]]
    by_type = ok(await client.get("/api/orders", params={"order_type": "takeout"}))
    assert [o["id"] for o in by_type["items"]] == [takeout["id"]]
    future = ok(await client.get("/api/orders", params={"since": "2999-01-01T00:00:00Z"}))
    assert future["items"] == []
    problem(await client.get("/api/orders", params={"cursor": "garbage"}), 422, "invalid_cursor")


async def test_event_feed_pages_in_position_order(client: httpx.AsyncClient) -> None:
    first = await place(client)
    second = await place(client)
    feed = ok(await client.get("/api/events", params={"after": 0, "limit": 2}))
    assert [e["position"] for e in feed["events"]] == [1, 2]
    assert feed["next_after"] == 2 and feed["head"] == second["position"]
    rest = ok(await client.get("/api/events", params={"after": feed["next_after"]}))
    positions = [e["position"] for e in rest["events"]]
    assert positions == list(range(3, second["position"] + 1))
    owners = [e["stream_id"] for e in feed["events"] + rest["events"]]
    assert owners == sorted(owners, key=[first["id"], second["id"]].index)
    assert rest["next_after"] == rest["head"] == second["position"]
    done = ok(await client.get("/api/events", params={"after": rest["next_after"]}))
    assert done["events"] == [] and done["next_after"] == second["position"]


async def test_errors_are_problems(client: httpx.AsyncClient) -> None:
    problem(await client.get("/api/nowhere"), 404, "not_found")
    not_allowed = await client.put("/api/orders")
    problem(not_allowed, 405, "method_not_allowed")
    assert "POST" in not_allowed.headers["allow"]
    problem(await client.patch("/api/orders/x", json={}), 422, "validation_error")
    broken = await client.post(
        "/api/orders", content=b"{not json", headers={"content-type": "application/json"}
    )
    problem(broken, 422, "malformed_json")
    huge = b'{"order_type": "takeout", "notes": "' + b"x" * 2_000_000 + b'"}'
    too_big = await client.post(
        "/api/orders", content=huge, headers={"content-type": "application/json"}
    )
    problem(too_big, 413, "payload_too_large")
    invalid = problem(
        await client.post("/api/orders", json={**new_order(), "table_number": "seven", "x": 1}),
        422,
        "validation_error",
    )
    assert {tuple(e["loc"]) for e in invalid["errors"]} == {
        ("body", "table_number"),
        ("body", "x"),
    }
    no_table = problem(
        await client.post("/api/orders", json={"order_type": "dine_in"}),
        422,
        "table_number_required",
    )
    assert "table_number" in no_table["detail"]
    problem(
        await client.post("/api/orders/x/items/y/void", json={"reason": ""}),
        422,
        "validation_error",
    )
    problem(await client.get("/api/orders/nope"), 404, "order_not_found")
    problem(await client.get("/api/orders/nope/events"), 404, "order_not_found")


async def test_headers_actor_and_correlation_id(client: httpx.AsyncClient) -> None:
    headers = {"X-Actor": "till-3", "X-Correlation-ID": "corr-42"}
    response = await client.post("/api/orders", json=new_order(), headers=headers)
    placed = ok(response, 201)
    assert response.headers["x-correlation-id"] == "corr-42"
    assert response.headers["etag"] == f'"{placed["order"]["version"]}"'
    assert response.headers["location"] == f"/api/orders/{placed['id']}"
    generated = (await client.get("/health")).headers["x-correlation-id"]
    assert len(generated) == 32
    history = ok(await client.get(f"/api/orders/{placed['id']}/events"))
    meta = history["events"][0]["metadata"]
    assert (meta["actor"], meta["correlation_id"]) == ("till-3", "corr-42")


async def test_cors_allows_the_configured_origin_only(client: httpx.AsyncClient) -> None:
    preflight = {"Access-Control-Request-Method": "POST"}
    allowed = await client.options(
        "/api/orders", headers={"Origin": "http://localhost:5173", **preflight}
    )
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:5173"
    refused = await client.options("/api/orders", headers={"Origin": "http://evil", **preflight})
    assert "access-control-allow-origin" not in refused.headers


async def test_forged_cursor_out_of_range_is_refused(client: httpx.AsyncClient) -> None:
    forged = base64.urlsafe_b64encode(b'{"p":18446744073709551615}').decode().rstrip("=")
    problem(await client.get("/api/orders", params={"cursor": forged}), 422, "invalid_cursor")
