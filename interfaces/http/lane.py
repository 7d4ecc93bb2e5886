"""The command lane: the busiest command routes served without FastAPI's per-request work.

A POS places orders and adds items, a kitchen bumps, recalls and voids items and moves
statuses, all service long; for those commands FastAPI's routing, dependency solving and
middleware cost about as much CPU as the command itself (docs/performance.md).
``CommandLane`` is the outermost app (in front of the Socket.IO app, which hands the rest
to FastAPI) and answers these routes itself, through the same
code the FastAPI routes run (``CommandRunner``, the routes' command builders, the problem
renderer):

- ``POST /api/orders`` (``PlaceOrderIn``, 201)
- ``PATCH /api/orders/{order_id}/status`` (``ChangeStatusIn``)
- ``POST /api/orders/{order_id}/items`` (``AddItemsIn``)
- ``POST /api/orders/{order_id}/items/{item_id}/bump`` and ``…/recall`` (no body)
- ``POST /api/orders/{order_id}/items/{item_id}/void`` (``VoidIn``)

It serves only a request it can answer exactly as the FastAPI route would: a JSON body
(``Content-Type: application/json``) that the route's model accepts
(``model_validate_json``: the same strict model), headers within the routes' declared
bounds and not repeated, ids of URL-safe characters, no ``Origin`` (CORS is the
middleware's). Anything else goes on to the FastAPI app with the body read so far handed
over, and FastAPI answers it: a refused body, malformed JSON, a header out of bounds, a
CORS request, a body over the limit all get the answers they always got. Its responses
carry what the middleware adds to the routes' (``X-Correlation-ID``, ``Vary: Origin``);
a test compares both paths response by response (``tests/e2e/test_command_lane.py``).
``ORDER_SERVICE_COMMAND_LANE=false`` turns it off.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from fastapi import FastAPI
from pydantic import BaseModel, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, RequestResponseCycle

from domain.commands import BumpItem, Command, RecallItem, VoidItem
from domain.handlers import CommandContext
from infrastructure.clock import uuid4_hex
from interfaces.http.commands import CommandRunner
from interfaces.http.deps import DEFAULT_ACTOR, expected_version
from interfaces.http.middleware import MAX_BODY_BYTES, correlation_id_from
from interfaces.http.models import MAX_ID, AddItemsIn, ChangeStatusIn, PlaceOrderIn, VoidIn
from interfaces.http.orders import adding, placing, status_change
from interfaces.http.problems import ApiProblem, command_problem, problem

log = logging.getLogger(__name__)

_ID: Final = f"([A-Za-z0-9._~-]{{1,{MAX_ID}}})"
_ACTOR: Final = re.compile(rb"[!-~][ -~]{0,99}")  # deps.ActorHeader's bounds
_KEY: Final = re.compile(rb"[!-~]{1,255}")  # idempotency.KEY_PATTERN
_MAX_IF_MATCH: Final = 100  # deps.IfMatchHeader's max_length
_VARY: Final = (b"vary", b"Origin")
"""What CORSMiddleware adds to a route's response to a request without ``Origin``
(CorrelationIdMiddleware adds ``x-correlation-id``)."""
_WATCHED: Final = frozenset(
    (
        b"content-type",
        b"content-length",
        b"origin",
        b"x-actor",
        b"x-correlation-id",
        b"idempotency-key",
        b"if-match",
    )
)

Build = Callable[[CommandRunner, Sequence[str], Any], Command]


@dataclass(frozen=True, slots=True)
class LaneRoute:
    """One command route: method, path (ids as groups), body model, command builder."""

    method: str
    path: re.Pattern[str]
    body: type[BaseModel] | None
    build: Build
    status_code: int = 200
    if_match: bool = True
    """Whether the route honours ``If-Match`` (every command on an existing order)."""


ROUTES: Final = (
    LaneRoute(
        "POST",
        re.compile("/api/orders"),
        PlaceOrderIn,
        lambda runner, ids, body: placing(runner, body),
        status_code=201,
        if_match=False,
    ),
    LaneRoute(
        "PATCH",
        re.compile(f"/api/orders/{_ID}/status"),
        ChangeStatusIn,
        lambda runner, ids, body: status_change(ids[0], body),
    ),
    LaneRoute(
        "POST",
        re.compile(f"/api/orders/{_ID}/items"),
        AddItemsIn,
        lambda runner, ids, body: adding(runner, ids[0], body),
    ),
    LaneRoute(
        "POST",
        re.compile(f"/api/orders/{_ID}/items/{_ID}/bump"),
        None,
        lambda runner, ids, body: BumpItem(ids[0], ids[1]),
    ),
    LaneRoute(
        "POST",
        re.compile(f"/api/orders/{_ID}/items/{_ID}/recall"),
        None,
        lambda runner, ids, body: RecallItem(ids[0], ids[1]),
    ),
    LaneRoute(
        "POST",
        re.compile(f"/api/orders/{_ID}/items/{_ID}/void"),
        VoidIn,
        lambda runner, ids, body: VoidItem(ids[0], ids[1], body.reason),
    ),
)


class _Declined(Exception):
    """The lane does not serve this request: FastAPI does."""


class CommandLane:
    """ASGI middleware in front of the app that serves the FastAPI app ``api`` (see the
    module docstring)."""

    def __init__(
        self, api: FastAPI, routes: Sequence[LaneRoute] = ROUTES, *, onward: ASGIApp | None = None
    ) -> None:
        self.api = api
        self.onward: ASGIApp = api if onward is None else onward
        """Where every request the lane does not answer goes: the app it sits in front of
        (the Socket.IO app, which hands everything not under ``/socket.io/`` to ``api``;
        lifespan and websockets too). In front of it rather than behind, a command skips
        the Socket.IO app's routing."""
        self.realtime: Any = getattr(onward, "realtime", None)
        """The ``onward`` app's ``realtime`` (``interfaces/server.py`` reads it)."""
        self.served = 0
        """Requests the lane answered itself (the others went on to FastAPI)."""
        self.direct_writes = True
        """Whether a command's response goes out in one write when it can (``_written``)."""
        self.written = 0
        """Responses the lane wrote in one write (the others went through ``send``)."""
        self._routes: dict[str, list[LaneRoute]] = {}
        for route in routes:
            self._routes.setdefault(route.method, []).append(route)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            candidates = self._routes.get(scope["method"])
            if candidates:
                path: str = scope["path"]
                for route in candidates:
                    match = route.path.fullmatch(path)
                    if match is not None:
                        await self._serve(route, match.groups(), scope, receive, send)
                        return
        await self.onward(scope, receive, send)

    async def _serve(
        self, route: LaneRoute, ids: Sequence[str], scope: Scope, receive: Receive, send: Send
    ) -> None:
        services = getattr(self.api.state, "services", None)
        headers = _watched_headers(scope)
        if services is None or headers is None or b"origin" in headers:
            await self.onward(scope, receive, send)
            return
        body: BaseModel | None = None
        if route.body is not None:
            read = await _read_body(headers, receive)
            if isinstance(read, _Replay):
                await self.onward(scope, read, send)
                return
            try:
                if not _is_json(headers.get(b"content-type")):
                    raise _Declined
                body = route.body.model_validate_json(read)
                runner = _runner(route, services, scope, headers)
            except (ValidationError, _Declined):
                await self.onward(scope, _Replay([_request(read, False)], receive), send)
                return
        else:
            try:
                runner = _runner(route, services, scope, headers)
            except _Declined:
                await self.onward(scope, receive, send)
                return
        self.served += 1
        path: str = scope["path"]
        correlation = runner.correlation_id.encode("ascii")
        try:
            command = route.build(runner, ids, body)
            stored, replayed = await runner.respond(command, body, status_code=route.status_code)
        except Exception as exc:
            response = command_problem(exc, path)
            if response is None:
                log.exception("unexpected error on %s %s", scope["method"], path)
                response = problem(path, 500, "internal_error", "an unexpected error occurred")
            raw = [*response.raw_headers, (b"x-correlation-id", correlation), _VARY]
            await _send(send, response.status_code, raw, response.body)
            return
        raw = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in stored.headers
        ]
        if replayed:
            raw.append((b"idempotent-replayed", b"true"))
        raw.append((b"content-length", str(len(stored.body)).encode("ascii")))
        raw.append((b"content-type", b"application/json"))
        raw += ((b"x-correlation-id", correlation), _VARY)
        if self.direct_writes and _written(send, stored.status, raw, stored.body):
            self.written += 1
        else:
            await _send(send, stored.status, raw, stored.body)


def _watched_headers(scope: Scope) -> dict[bytes, bytes] | None:
    """The headers the lane looks at; None when one of them is repeated."""
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        if name in _WATCHED:
            if name in found:
                return None
            found[name] = value
    return found


def _is_json(content_type: bytes | None) -> bool:
    if content_type is None:
        return False
    return content_type.split(b";", 1)[0].strip().lower() == b"application/json"


def _runner(
    route: LaneRoute, services: Any, scope: Scope, headers: dict[bytes, bytes]
) -> CommandRunner:
    """The ``CommandRunner`` the route's dependency would build; ``_Declined`` when a header
    is out of the route's bounds (FastAPI answers it)."""
    actor = headers.get(b"x-actor")
    if actor is not None and _ACTOR.fullmatch(actor) is None:
        raise _Declined
    key = headers.get(b"idempotency-key")
    if key is not None and _KEY.fullmatch(key) is None:
        raise _Declined
    expected: int | None = None
    if route.if_match:
        if_match = headers.get(b"if-match")
        if if_match is not None:
            if len(if_match) > _MAX_IF_MATCH:
                raise _Declined
            expected = _expected(if_match.decode("latin-1"))
    correlation_id = correlation_id_from(scope) or uuid4_hex()
    context = CommandContext(
        actor=actor.decode("ascii") if actor is not None else DEFAULT_ACTOR,
        correlation_id=correlation_id,
    )
    return CommandRunner(
        services,
        context,
        scope["method"],
        scope["path"],
        key.decode("ascii") if key is not None else None,
        expected,
    )


def _expected(if_match: str) -> int | None:
    try:
        return expected_version(if_match)
    except ApiProblem:  # a malformed If-Match: FastAPI's dependency answers the 412
        raise _Declined from None


async def _read_body(headers: dict[bytes, bytes], receive: Receive) -> bytes | _Replay:
    """The whole body, or what FastAPI should be handed (over the limit, a disconnect)."""
    length = headers.get(b"content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
        return _Replay([], receive)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return _Replay([_request(b"".join(chunks), True), message], receive)
        chunk: bytes = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        more: bool = message.get("more_body", False)
        if size > MAX_BODY_BYTES:
            return _Replay([_request(b"".join(chunks), more)], receive)
        if not more:
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _request(body: bytes, more_body: bool) -> Message:
    return {"type": "http.request", "body": body, "more_body": more_body}


class _Replay:
    """A ``receive`` that gives the messages the lane already took, then the real ones."""

    __slots__ = ("_messages", "_receive")

    def __init__(self, messages: list[Message], receive: Receive) -> None:
        self._messages = messages
        self._receive = receive

    async def __call__(self) -> Message:
        if self._messages:
            return self._messages.pop(0)
        return await self._receive()


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _written(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> bool:
    """Write a command's whole response in one ``transport.write``; False if it cannot.

    ``send`` is uvicorn's ``RequestResponseCycle.send`` (httptools, the ``auto`` default)
    when nothing wraps it; its two messages cost two writes (two ``send`` system calls)
    and its per-header checks. This writes the bytes it would write for them, joined, and
    leaves the cycle as it would: response started and complete, the request's waiter
    woken, keep-alive or close, ``on_response`` called. Only from a fresh cycle (nothing
    sent, connected, not paused for writing, no access log to write) and with headers it
    would accept (lower-case names the lane sets, values without CR or LF: counted below);
    otherwise, and for any other server, the caller sends the two messages.
    ``headers`` carry the body's ``content-length`` (the lane sets it).
    """
    cycle = getattr(send, "__self__", None)
    if (
        type(cycle) is not RequestResponseCycle
        or cycle.response_started
        or cycle.disconnected
        or cycle.access_log
        or cycle.flow.write_paused
    ):
        return False
    parts = [STATUS_LINE[status]]
    for name, value in (*cycle.default_headers, *headers):
        parts += (name, b": ", value, b"\r\n")
    if not cycle.keep_alive:
        parts.append(b"connection: close\r\n")
    parts.append(b"\r\n")
    head = b"".join(parts)
    lines = len(cycle.default_headers) + len(headers) + (2 if cycle.keep_alive else 3)
    if head.count(b"\n") != lines or head.count(b"\r") != lines:
        return False
    cycle.response_started = True
    cycle.waiting_for_100_continue = False
    cycle.chunked_encoding = False
    cycle.expected_content_length = 0
    cycle.transport.write(head + body)
    cycle.response_complete = True
    cycle.message_event.set()
    if not cycle.keep_alive:
        cycle.transport.close()
    cycle.on_response()
    return True


def lane_for(api: FastAPI, onward: ASGIApp, enabled: bool) -> ASGIApp:
    """``onward`` (the app that serves ``api``) behind the command lane, or ``onward``
    itself when the lane is off."""
    return CommandLane(api, onward=onward) if enabled else onward
