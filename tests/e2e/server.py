"""A real uvicorn serving the real app on a free port, in a background thread.

Reusable by every end-to-end suite (REST, Socket.IO)::

    url = migrated_database(tmp_path / "orders.db")
    with LiveServer(server_settings(url)) as server:
        httpx.get(server.url("/health"))

``LiveServer`` builds the server exactly as ``order-service serve`` does
(``interfaces.server.build_server`` -> ``create_app(settings)``), so whatever
``create_app`` serves (REST, Socket.IO) is what the tests talk to. It can be
stopped and started again on the same port and database (a restart).
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import uvicorn

from infrastructure.migrations import upgrade
from infrastructure.settings import Settings
from interfaces.server import build_server


class ServerStartError(RuntimeError):
    """The server did not start (e.g. the lifespan refused an unmigrated database)."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def database_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def migrated_database(path: Path) -> str:
    """Create and migrate an SQLite file; its URL."""
    url = database_url(path)
    upgrade(url)
    return url


def server_settings(url: str, **overrides: Any) -> Settings:
    """Settings for a test server: ``url``'s database, nothing read from the environment."""
    values: dict[str, Any] = {"database_url": url, "log_level": "warning", **overrides}
    return Settings.model_validate(values)


class LiveServer:
    """uvicorn in a thread; ``start()``/``stop()`` (or ``with``), ``restart()``, ``url()``."""

    def __init__(
        self,
        settings: Settings,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        **server_options: Any,
    ) -> None:
        self.settings = settings
        self.host = host
        self.port = port or free_port(host)
        self.server_options = {"log_config": None, **server_options}
        self.server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 20.0) -> Self:
        if self.running:
            raise RuntimeError("the server is already running")
        self.server = build_server(
            self.settings, host=self.host, port=self.port, **self.server_options
        )
        self._error = None
        self._thread = threading.Thread(target=self._run, name=f"uvicorn-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive():
                raise ServerStartError(f"the server on {self.base_url} did not start") from (
                    self._error
                )
            if time.monotonic() > deadline:
                self.stop()
                raise ServerStartError(f"the server on {self.base_url} did not start in time")
            self._thread.join(0.01)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Graceful shutdown: in-flight requests finish, then the lifespan closes everything."""
        if self.server is not None:
            self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise RuntimeError(f"the server on {self.base_url} did not stop in {timeout} s")
        self._thread = None

    def restart(self) -> Self:
        self.stop()
        return self.start()

    def _run(self) -> None:
        assert self.server is not None
        try:
            self.server.run()
        except BaseException as exc:  # a SystemExit from uvicorn included
            self._error = exc

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
