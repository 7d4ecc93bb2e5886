"""How a REST command is carried out: idempotency, If-Match, read-your-writes, the body.

``CommandRunner.run(command, body)`` executes the command through ``OrderService``,
waits until the projector has reached the command's last position (at most
``read_your_writes_timeout`` seconds) so that a GET right after sees the write, and
answers ``{id, order, position, stale}``. The order view is the one the projector just
wrote for that version, kept in its memory as the JSON text of its row
(``Projector.view_text_of``, embedded as is), else read from the read models;
when they did not catch up in time (``stale: true``), or are already past the version
the command produced (a replayed key), it is rendered from the domain state instead,
with ticket number and timestamps taken from the read model when it has them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from fastapi.responses import Response
from pydantic import BaseModel

from domain.commands import Command
from domain.handlers import CommandContext, CommandResult, OrderService
from domain.model import Order
from domain.ports import ConcurrencyConflict, IdempotencyKey, IdempotencyKeyReused
from infrastructure.read_models.views import OrderMeta, TrackedOrder, render_order
from interfaces.http.idempotency import StoredResponse, fingerprint, reused
from interfaces.http.problems import ApiProblem

if TYPE_CHECKING:
    from interfaces.services import Services

JSON = dict[str, Any]


def json_response(
    body: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(body), status_code, headers, media_type="application/json")


def etag(version: int) -> str:
    return f'"{version}"'


class CommandRunner:
    """One request's command: built by ``deps.order_command`` / ``deps.new_order_command``
    (FastAPI routes) or by ``interfaces.http.lane`` (the command lane).

    ``method`` and ``path`` are the request's: with the body, they are what an
    ``Idempotency-Key`` is bound to.
    """

    __slots__ = ("_context", "_expected", "_key", "_method", "_path", "_services")

    def __init__(
        self,
        services: Services,
        context: CommandContext,
        method: str,
        path: str,
        idempotency_key: str | None,
        expected_version: int | None,
    ) -> None:
        self._services = services
        self._context = context
        self._method = method
        self._path = path
        self._key = idempotency_key
        self._expected = expected_version

    @property
    def correlation_id(self) -> str:
        return self._context.correlation_id

    @property
    def orders(self) -> OrderService:
        return self._services.orders

    def business_day(self) -> str:
        """The business day it is now (for a new order)."""
        services = self._services
        return services.orders.business_day_now(
            services.business_tz, services.settings.business_day_start_hour
        )

    async def run(
        self, command: Command, body: BaseModel | None = None, *, status_code: int = 200
    ) -> Response:
        stored, replayed = await self.respond(command, body, status_code=status_code)
        headers = dict(stored.headers)
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(stored.body, stored.status, headers, media_type="application/json")

    async def respond(
        self, command: Command, body: BaseModel | None = None, *, status_code: int = 200
    ) -> tuple[StoredResponse, bool]:
        """The response (status, JSON body, headers) and whether it is an idempotent replay.

        Raises what ``run`` raises (``ApiProblem``, ``DomainError``).
        """
        if self._key is None:
            return await self._execute(command, None, status_code), False
        key = IdempotencyKey(self._key, fingerprint(self._method, self._path, body))
        return await self._services.idempotency.run(
            key, lambda: self._execute(command, key, status_code)
        )

    async def _execute(
        self, command: Command, key: IdempotencyKey | None, status_code: int
    ) -> StoredResponse:
        try:
            result = await self._services.orders.execute(
                command, self._context, expected_version=self._expected, idempotency=key
            )
        except ConcurrencyConflict as exc:
            raise self._conflict(exc) from None
        except IdempotencyKeyReused as exc:
            raise reused(exc.key) from None
        body = await outcome(self._services, command.order_id, result)
        order = body.get("order")
        headers: tuple[tuple[str, str], ...] = ()
        if isinstance(order, orjson.Fragment):  # the projector's text of this very version
            assert result.append is not None
            headers = (("ETag", etag(result.append.stream_version)),)
        elif order is not None:
            headers = (("ETag", etag(order["version"])),)
        if status_code == 201:
            headers += (("Location", f"/api/orders/{body['id']}"),)
        return StoredResponse(status_code, orjson.dumps(body), headers)

    def _conflict(self, exc: ConcurrencyConflict) -> ApiProblem:
        if self._expected is not None:
            return ApiProblem(
                412,
                "precondition_failed",
                f"the order is at version {exc.actual}, not {self._expected} (If-Match); "
                "fetch it again and retry",
                headers={"ETag": etag(exc.actual)},
            )
        return ApiProblem(
            409,
            "concurrency_conflict",
            "the order kept changing while this command was decided; retry",
        )


async def outcome(services: Services, order_id: str, result: CommandResult) -> JSON:
    """The response body of a command that succeeded (see the module docstring). Its
    ``order`` is an ``orjson.Fragment`` (JSON text, at the version the command produced)
    when it is the projector's, else a dict."""
    append = result.append
    if append is None:  # nothing to do: the order as it stands
        assert result.order is not None
        view = await _view(services, result.order, None)
        return {"id": order_id, "order": view, "position": view["position"], "stale": False}
    reached = await services.projector.wait_for_position(
        append.last_position, services.settings.read_your_writes_timeout
    )
    # The projector's own view of this version (the text it just committed), else the
    # database's.
    text = (
        services.projector.view_text_of(append.stream_id, append.stream_version)
        if reached
        else None
    )
    view: JSON | orjson.Fragment
    if text is not None:
        view = orjson.Fragment(text)
    else:
        order = result.order
        if order is None or order.discarded:
            return {"id": append.stream_id, "position": append.last_position, "stale": not reached}
        view = await _view(services, order, append.last_position)
    return {
        "id": append.stream_id,
        "order": view,
        "position": append.last_position,
        "stale": not reached,
    }


async def _view(services: Services, order: Order, position: int | None) -> JSON:
    current = await services.read_models.get_order(order.order_id)
    if current is not None and current["version"] == order.version:
        return current
    return render_from_state(order, position, current)


def render_from_state(order: Order, position: int | None, current: JSON | None) -> JSON:
    """The view of ``order`` (domain state) when the read model shows another version.

    The ticket number and first timestamps come from the read model's ``current`` view
    when there is one; what it cannot know is taken as now.
    """
    now = datetime.now(UTC)
    created_at = _instant(current, "created_at") or now
    sent_at = _instant(current, "sent_at") or (now if order.fired_ever else None)
    at = position if position is not None else (current["position"] if current else 0)
    meta = OrderMeta(
        number=current["number"] if current else None,
        created_at=created_at,
        created_position=0,  # not part of the view
        updated_at=now,
        position=at,
        sent_at=sent_at,
    )
    return render_order(TrackedOrder(order, meta))


def _instant(view: JSON | None, name: str) -> datetime | None:
    raw = view.get(name) if view is not None else None
    return datetime.fromisoformat(raw) if isinstance(raw, str) else None
