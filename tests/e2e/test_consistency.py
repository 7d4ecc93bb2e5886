"""Read-your-writes, Idempotency-Key and If-Match/ETag against a real server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.e2e.orders import item, new_order, ok, place, problem
from tests.e2e.server import LiveServer, server_settings

pytestmark = pytest.mark.anyio


async def test_twenty_pos_clients_always_read_their_own_writes(live_server: LiveServer) -> None:
    async def pos(terminal: int) -> None:
        headers = {"X-Actor": f"pos-{terminal}"}
        async with httpx.AsyncClient(base_url=live_server.base_url, headers=headers) as http:
            for round_ in range(3):
                placed = await place(http, new_order(table_number=terminal + 1, notes=f"r{round_}"))
                seen = ok(await http.get(f"/api/orders/{placed['id']}"))
                assert seen["version"] >= placed["order"]["version"]
                assert placed["stale"] is False
                item_id = placed["order"]["items"][0]["id"]
                bumped = ok(await http.post(f"/api/orders/{placed['id']}/items/{item_id}/bump"))
                seen = ok(await http.get(f"/api/orders/{placed['id']}"))
                assert seen["status"] == "ready" == bumped["order"]["status"]
                assert seen["position"] >= bumped["position"]
                listed = ok(await http.get("/api/orders", params={"table_number": terminal + 1}))
                assert placed["id"] in [o["id"] for o in listed["items"]]

    await asyncio.gather(*(pos(n) for n in range(20)))


async def test_parallel_duplicates_make_one_order_and_one_answer(
    client: httpx.AsyncClient,
) -> None:
    body = new_order(item("Pizza", station="oven"))
    headers = {"Idempotency-Key": "till-1-0001"}
    responses = await asyncio.gather(
        *(client.post("/api/orders", json=body, headers=headers) for _ in range(10))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.content for r in responses}) == 1, "every duplicate gets the first body"
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 9
    listed = ok(await client.get("/api/orders"))
    assert len(listed["items"]) == 1
    assert listed["items"][0]["id"] == responses[0].json()["id"]

    later = await client.post("/api/orders", json=body, headers=headers)
    assert (later.status_code, later.content) == (201, responses[0].content)

    other = await client.post("/api/orders", json=new_order(notes="other"), headers=headers)
    problem(other, 422, "idempotency_key_reused")
    elsewhere = await client.post(f"/api/orders/{responses[0].json()['id']}/fire", headers=headers)
    problem(elsewhere, 422, "idempotency_key_reused")
    assert len(ok(await client.get("/api/orders"))["items"]) == 1


async def test_idempotent_command_survives_a_restart(live_server: LiveServer) -> None:
    headers = {"Idempotency-Key": "restart-key"}
    async with httpx.AsyncClient(base_url=live_server.base_url) as http:
        placed = await place(http)
        order_id = placed["id"]
        item_id = placed["order"]["items"][0]["id"]
        first = ok(await http.post(f"/api/orders/{order_id}/items/{item_id}/bump", headers=headers))
    await asyncio.to_thread(live_server.restart)
    async with httpx.AsyncClient(base_url=live_server.base_url) as http:
        again = await http.post(f"/api/orders/{order_id}/items/{item_id}/bump", headers=headers)
        replay = ok(again)
        assert replay["position"] == first["position"]
        assert replay["order"]["version"] == first["order"]["version"]
        assert replay["order"]["status"] == "ready"
        history = ok(await http.get(f"/api/orders/{order_id}/events"))
        assert [e["type"] for e in history["events"]].count("ItemBumped") == 1


async def test_etag_if_match_and_if_none_match(client: httpx.AsyncClient) -> None:
    placed = await place(client, new_order(fire=False))
    path = f"/api/orders/{placed['id']}"
    got = await client.get(path)
    etag = got.headers["etag"]
    assert etag == f'"{got.json()["version"]}"'

    unchanged = await client.get(path, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert unchanged.headers["etag"] == etag

    changed = await client.patch(path, json={"guest_count": 4}, headers={"If-Match": etag})
    new_etag = changed.headers["etag"]
    assert ok(changed)["order"]["guest_count"] == 4
    assert new_etag == f'"{changed.json()["order"]["version"]}"' != etag

    stale = await client.patch(path, json={"guest_count": 5}, headers={"If-Match": etag})
    refused = problem(stale, 412, "precondition_failed")
    assert "version" in refused["detail"]
    assert stale.headers["etag"] == new_etag
    garbage = await client.post(f"{path}/fire", headers={"If-Match": "garbage"})
    problem(garbage, 412, "precondition_failed")
    assert ok(await client.get(path))["guest_count"] == 4

    modified = await client.get(path, headers={"If-None-Match": etag})
    assert modified.status_code == 200
    fired = await client.post(f"{path}/fire", headers={"If-Match": f"W/{new_etag}"})
    assert ok(fired)["order"]["status"] == "sent"


async def test_concurrent_commands_without_if_match_all_apply(client: httpx.AsyncClient) -> None:
    items = [item(f"Dish{n}") for n in range(8)]
    placed = await place(client, new_order(*items))
    order_id = placed["id"]
    ids = [i["id"] for i in placed["order"]["items"]]
    bumps = await asyncio.gather(
        *(client.post(f"/api/orders/{order_id}/items/{i}/bump") for i in ids)
    )
    codes = sorted(r.status_code for r in bumps)
    # Each bump re-decides on a conflict (bounded retries); what still conflicts is a 409.
    assert set(codes) <= {200, 409}
    for response in bumps:
        if response.status_code == 409:
            problem(response, 409, "concurrency_conflict")
    final = ok(await client.get(f"/api/orders/{order_id}"))
    assert sum(i["status"] == "ready" for i in final["items"]) == codes.count(200)


async def test_stale_responses_render_the_order_from_the_domain(database_url: str) -> None:
    # No waiting for the read models at all: responses are (almost always) stale, and
    # their order view must still be the order the command produced.
    settings = server_settings(database_url, read_your_writes_timeout=0)
    async with (
        running(LiveServer(settings)) as server,
        httpx.AsyncClient(base_url=server.base_url) as http,
    ):
        responses = [await place(http, new_order(table_number=n)) for n in range(1, 6)]
        await wait_until_projected(http)
        for placed in responses:
            current = ok(await http.get(f"/api/orders/{placed['id']}"))
            shown = placed["order"]
            volatile = (
                {"number", "created_at", "updated_at", "sent_at"} if placed["stale"] else set()
            )
            assert {k: v for k, v in shown.items() if k not in volatile} == {
                k: v for k, v in current.items() if k not in volatile
            }


@contextlib.asynccontextmanager
async def running(server: LiveServer) -> AsyncIterator[LiveServer]:
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)


async def wait_until_projected(http: httpx.AsyncClient, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while ok(await http.get("/health/ready"))["projector"]["lag"] > 0:
        assert asyncio.get_running_loop().time() < deadline, "the projector did not catch up"
        await asyncio.sleep(0.01)  # polling with a deadline: nothing to wait on from outside
