"""Serving the app with uvicorn: one place that builds the server (CLI and e2e tests).

``auto`` picks uvloop and httptools when they are installed (``uvicorn[standard]``, a
dependency); the classes actually chosen are reported at ``GET /api/_runtime``.
WebSocket per-message deflate follows ``settings.ws_per_message_deflate`` (off by default:
one compression per message per subscriber is the largest cost of a fan-out). uvicorn's
WebSocket ping is off: Engine.IO's ping/pong already detects dead sockets, and a second
timer per socket cost idle connections CPU and memory (``bench/idle_bench.py``).
"""

from __future__ import annotations

import gc
from typing import Any, Final

import uvicorn
from uvicorn.config import HTTP_PROTOCOLS, WS_PROTOCOLS
from uvicorn.importer import import_from_string

from infrastructure.settings import Settings
from interfaces.app import create_app
from interfaces.realtime.lean import LeanWebSocket

GC_THRESHOLDS: Final = (5_000, 1, 10_000)
"""Cyclic GC generation thresholds while serving (CPython's default is 700, 10, 10).

Every collection pauses the event loop for as long as it walks its generations, and what
it walks is what stayed alive since the last one: at S2's pace (200 orders/s) about
10,000 containers a second (the orders in the projector's cache, the broadcaster's ring).
Earlier thresholds, 50,000/50/1,000, let five seconds of them pile up before each young
collection, a 10-67 ms pause; S2's p99 went to 18-327 ms in 3 of 7 runs. With 5,000/1 a
young collection walks ~0.5 s worth (0.8 ms median, 3.4 ms max in S2) and every other one
is a middle collection that moves the survivors to the old generation for good (3.5 ms
median, 10 ms max); only a full collection (after 10,000 middle ones) walks that again.
Cost: 1.1-1.5 % of the CPU in S1 against 0.8 % (``bench/gc_pauses.py``,
docs/performance.md, fifth round). Reference cycles are still collected.
"""


def build_server(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    loop: str = "auto",
    http: str = "auto",
    ws: str = "auto",
    access_log: bool = False,
    **config: Any,
) -> uvicorn.Server:
    """A uvicorn server for ``create_app(settings)`` (call ``run()`` or ``serve()``)."""
    gc.set_threshold(*GC_THRESHOLDS)
    deflate = config.pop("ws_per_message_deflate", settings.ws_per_message_deflate)
    lean = ws == "auto" and settings.ws_lean_sockets and not deflate
    runtime = {"loop_setting": loop, **protocol_names(http, LeanWebSocket if lean else ws)}
    app = create_app(settings, runtime=runtime)
    ws_protocol: Any = ws
    if lean:
        # Socket.IO opened over a WebSocket is served by the connection's own protocol;
        # everything else it hands to uvicorn's `auto` protocol (interfaces/realtime/lean.py).
        ws_protocol = getattr(app, "realtime").lean_protocol  # noqa: B009 - set by Realtime.asgi
        assert ws_protocol is not None
    return uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            loop=loop,
            http=http,
            ws=ws_protocol,
            lifespan="on",
            log_level=settings.log_level,
            access_log=access_log,
            ws_per_message_deflate=deflate,
            # Engine.IO already pings every socket (ping_interval/ping_timeout); uvicorn's own
            # WebSocket-level ping would be a second timer and frame pair per socket.
            ws_ping_interval=config.pop("ws_ping_interval", None),
            ws_ping_timeout=config.pop("ws_ping_timeout", None),
            **config,
        )
    )


def freeze_startup_objects() -> int:
    """Move what is alive now into the collector's permanent generation; how many objects.

    For a process about to serve until it stops (``order-service serve``): its modules,
    the app, its routes and schemas (~10^5 objects) live as long as it does, and frozen,
    no collection walks them again. Not for a process that goes on to make and drop
    servers (the tests): what it froze is never collected, even once unreachable.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def protocol_names(http: str, ws: str | type[Any]) -> dict[str, str]:
    """The HTTP and websocket protocol classes uvicorn will use for these settings."""
    http_cls = import_from_string(HTTP_PROTOCOLS.get(http, http))
    if isinstance(ws, type):
        ws_cls: Any = ws
    else:
        ws_path = WS_PROTOCOLS.get(ws, ws)
        ws_cls = import_from_string(ws_path) if ws_path else None
    return {"http_protocol": _name(http_cls), "ws_protocol": _name(ws_cls)}


def _name(cls: Any) -> str:
    return "none" if cls is None else f"{cls.__module__}.{cls.__qualname__}"
