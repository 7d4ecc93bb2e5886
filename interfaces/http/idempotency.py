"""``Idempotency-Key`` for commands (IETF draft ``httpapi-idempotency-key-header``).

Two layers, one answer:

- The event store keeps every key with its request fingerprint in the transaction that
  appends the command's events; a retry with the same key and fingerprint appends
  nothing and gets the first append back (this survives restarts).
- This module keeps, in process, the requests in flight and the first response per key
  (an LRU), so that a retry gets the *same* status and body, byte for byte. A duplicate
  that arrives while the first request is still running waits for it (up to
  ``wait_timeout``, then 409 ``idempotency_key_in_flight``) and then replays its
  response. If the first request failed (nothing was appended), the duplicate runs
  itself.

The same key with another fingerprint (method, path or body) is refused with 422
``idempotency_key_reused``. Only successful responses are kept.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

import orjson
from pydantic import BaseModel

from domain.ports import IdempotencyKey
from interfaces.http.problems import ApiProblem

KEY_PATTERN: Final = r"^[!-~]{1,255}$"
"""Visible ASCII, 1 to 255 characters."""


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """A command's response as first sent: what a replay with the same key answers."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


def fingerprint(method: str, path: str, body: BaseModel | None) -> str:
    """sha256 of the method, the path and the canonical JSON of the validated body."""
    canonical = b"" if body is None else _canonical(body)
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), canonical):
        digest.update(part)
        digest.update(b"\n")
    return digest.hexdigest()


def _canonical(body: BaseModel) -> bytes:
    return orjson.dumps(
        body.model_dump(mode="json", exclude_unset=True), option=orjson.OPT_SORT_KEYS
    )


def reused(key: str) -> ApiProblem:
    return ApiProblem(
        422,
        "idempotency_key_reused",
        f"Idempotency-Key {key!r} was already used with another request "
        "(method, path or body); use a new key for a new request",
    )


@dataclass(slots=True)
class _InFlight:
    fingerprint: str
    done: asyncio.Event


class IdempotencyRegistry:
    """Responses by key (LRU of ``capacity``) and the requests in flight, for one process."""

    def __init__(self, capacity: int = 10_000, wait_timeout: float = 30.0) -> None:
        self._capacity = capacity
        self._wait_timeout = wait_timeout
        self._responses: OrderedDict[str, tuple[str, StoredResponse]] = OrderedDict()
        self._in_flight: dict[str, _InFlight] = {}

    async def run(
        self, key: IdempotencyKey, call: Callable[[], Awaitable[StoredResponse]]
    ) -> tuple[StoredResponse, bool]:
        """The response for ``key``: the stored one (``True``: a replay) or ``call()``'s."""
        while True:
            stored = self._recall(key)
            if stored is not None:
                return stored, True
            pending = self._in_flight.get(key.key)
            if pending is None:
                break
            if pending.fingerprint != key.fingerprint:
                raise reused(key.key)
            await self._wait(key.key, pending)
        pending = _InFlight(key.fingerprint, asyncio.Event())
        self._in_flight[key.key] = pending
        try:
            response = await call()
            self._remember(key, response)
            return response, False
        finally:
            del self._in_flight[key.key]
            pending.done.set()

    def _recall(self, key: IdempotencyKey) -> StoredResponse | None:
        entry = self._responses.get(key.key)
        if entry is None:
            return None
        if entry[0] != key.fingerprint:
            raise reused(key.key)
        self._responses.move_to_end(key.key)
        return entry[1]

    def _remember(self, key: IdempotencyKey, response: StoredResponse) -> None:
        self._responses[key.key] = (key.fingerprint, response)
        while len(self._responses) > self._capacity:
            self._responses.popitem(last=False)

    async def _wait(self, key: str, pending: _InFlight) -> None:
        try:
            async with asyncio.timeout(self._wait_timeout):
                await pending.done.wait()
        except TimeoutError:
            raise ApiProblem(
                409,
                "idempotency_key_in_flight",
                f"a request with Idempotency-Key {key!r} is still being processed; retry later",
                headers={"Retry-After": "1"},
            ) from None
