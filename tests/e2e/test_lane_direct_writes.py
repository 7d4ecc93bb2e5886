"""A command's response written in one go (``CommandLane.direct_writes``) is byte for byte
the response uvicorn writes for the lane's two ASGI messages.

Two real servers on two fresh files, one writing directly (the default) and one through
uvicorn's ``send``, get the same raw HTTP/1.1 requests on raw sockets: keep-alive,
pipelined and ``Connection: close``. Their raw responses must be equal once server
generated ids, instants and the ``date`` header are blanked out (positions, numbers and
lengths match: both files see the same history).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from interfaces.http.lane import CommandLane
from tests.e2e.server import LiveServer, migrated_database, server_settings

pytestmark = pytest.mark.anyio

WAIT = 20.0
_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_INSTANT = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00")
_DATE = re.compile(rb"\r\ndate: [^\r]*\r\n")
_BODY = json.dumps(
    {
        "order_type": "dine_in",
        "table_number": 7,
        "items": [{"menu_item_id": "m-3", "name": "Item 3", "quantity": 2, "unit_price": 575}],
    }
).encode()


def _request(*, close: bool = False, path: bytes = b"/api/orders") -> bytes:
    return (
        b"POST " + path + b" HTTP/1.1\r\nhost: pos\r\ncontent-type: application/json\r\n"
        b"x-correlation-id: corr-1\r\n"
        + (b"connection: close\r\n" if close else b"")
        + b"content-length: "
        + str(len(_BODY)).encode()
        + b"\r\n\r\n"
        + _BODY
    )


def _lane(server: LiveServer) -> CommandLane:
    assert server.server is not None
    lane = server.server.config.app
    assert isinstance(lane, CommandLane)
    return lane


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[LiveServer, LiveServer]]:
    with (
        LiveServer(server_settings(migrated_database(tmp_path / "direct.db"))) as direct,
        LiveServer(server_settings(migrated_database(tmp_path / "sent.db"))) as sent,
    ):
        _lane(sent).direct_writes = False
        yield direct, sent


async def _read_response(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(re.search(rb"\r\ncontent-length: (\d+)\r\n", head).group(1))  # type: ignore[union-attr]
    return head + await reader.readexactly(length)


async def _exchange(server: LiveServer, requests: list[bytes], answers: int) -> list[bytes]:
    """Send ``requests`` (each one write) on one connection; the ``answers`` responses."""
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        got: list[bytes] = []
        for request in requests:
            writer.write(request)
        for _ in range(answers):
            got.append(await asyncio.wait_for(_read_response(reader), WAIT))
        return got
    finally:
        writer.close()


def _blank(raw: bytes) -> bytes:
    raw = _DATE.sub(b"\r\ndate: <date>\r\n", raw)
    return _INSTANT.sub(b"<instant>", _UUID.sub(b"<uuid>", raw))


async def test_direct_responses_are_the_bytes_uvicorn_writes(
    servers: tuple[LiveServer, LiveServer],
) -> None:
    direct, sent = servers
    # The lane writes directly only when uvicorn has no access log line to write (the
    # service's default); pytest's log capture gives every non-propagating logger a
    # handler, which would turn uvicorn's access log on for the connections below.
    logging.getLogger("uvicorn.access").handlers.clear()
    served = _lane(direct).served
    cases = [
        ([_request()], 1),  # keep-alive
        ([_request(), _request()], 2),  # two requests on one connection, one after the other
        ([_request() + _request()], 2),  # pipelined: both in one write
        ([_request(close=True)], 1),  # the server closes after answering
        ([_request(path=b"/api/orders/nope/items/x/bump")], 1),  # a problem: two messages
    ]
    for requests, answers in cases:
        ours = await _exchange(direct, requests, answers)
        theirs = await _exchange(sent, requests, answers)
        assert [_blank(r) for r in ours] == [_blank(r) for r in theirs]
        assert ours[0].startswith((b"HTTP/1.1 201 Created\r\n", b"HTTP/1.1 404 Not Found\r\n"))
    assert b"connection: close\r\n" in (await _exchange(direct, [_request(close=True)], 1))[0]
    assert _lane(direct).served == served + 8
    assert _lane(direct).written == 7  # all but the problem
    assert _lane(sent).written == 0
