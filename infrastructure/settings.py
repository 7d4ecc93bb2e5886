"""The service's configuration: one pydantic-settings class read from ``ORDER_SERVICE_*``.

Nothing reads the environment at import time; the composition root calls
``load_settings()`` once at start. An invalid value raises ``SettingsError``
whose message names the environment variable, so the start stops with a line
an operator can act on.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "ORDER_SERVICE_"

LogLevel = Literal["debug", "info", "warning", "error", "critical"]
SqliteSynchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]


class SettingsError(ValueError):
    """The environment holds an invalid setting; the message names the variable(s)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    database_url: str = Field(
        default="sqlite+aiosqlite:///./var/order-service.db",
        min_length=1,
        description="SQLAlchemy URL of the event store and read models.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://localhost:5173"],
        description="Origins allowed by CORS (HTTP and the Socket.IO handshake): "
        "a JSON list or a comma-separated string.",
    )
    ping_interval: float = Field(default=25.0, gt=0, le=3600)
    ping_timeout: float = Field(default=60.0, gt=0, le=3600)
    log_level: LogLevel = "info"
    sqlite_synchronous: SqliteSynchronous = Field(
        default="FULL", description="SQLite PRAGMA synchronous: the durability of a commit."
    )
    business_day_timezone: str = Field(
        default="UTC", description="IANA time zone in which business days are counted."
    )
    business_day_start_hour: int = Field(
        default=4, ge=0, le=23, description="Local hour at which a business day starts."
    )
    read_your_writes_timeout: float = Field(
        default=5.0,
        ge=0,
        le=60,
        description="Seconds a command response waits for the read models to catch up.",
    )
    command_max_retries: int = Field(
        default=3, ge=0, le=100, description="Re-decides on a concurrency conflict (no If-Match)."
    )
    ws_per_message_deflate: bool = Field(
        default=False,
        description="Offer WebSocket per-message deflate. Off by default: it costs one "
        "compression per message per subscriber (measured ~10 % more server CPU at 10k "
        "deliveries/s, and the screens' own CPU to inflate).",
    )
    ws_direct_writes: bool = Field(
        default=True,
        description="Write live room messages straight to idle subscribers' WebSocket "
        "connections, framed once per room, instead of through each socket's engine.io "
        "queue and writer task (interfaces/realtime/direct.py); busy or slow sockets, "
        "acks, pings and replays always take the queue.",
    )
    ws_lean_sockets: bool = Field(
        default=True,
        description="Serve Socket.IO connections opened straight over a WebSocket "
        "(transports: ['websocket']) in the connection's own protocol, without engine.io's "
        "per-connection tasks and queue (interfaces/realtime/lean.py); long-polling sessions "
        "and their upgrades keep engine.io's path. Needs uvicorn's `ws` left at `auto` and "
        "no per-message deflate.",
    )
    send_queue_limit: int = Field(
        default=10_000,
        ge=1,
        le=1_000_000,
        description="Packets queued for one Socket.IO client before it is disconnected as too "
        "slow (it resumes with `since` and misses nothing).",
    )
    room_position_interval: float = Field(
        default=5.0, gt=0, le=3600, description="Seconds between room position heartbeats."
    )
    sqlite_checkpoint_interval: float = Field(
        default=1.0,
        ge=0,
        le=3600,
        description="Seconds between WAL checkpoints run by a thread of their own (0: SQLite's "
        "automatic checkpoints, in the committing connection, every 1,000 pages).",
    )
    command_lane: bool = Field(
        default=True,
        description="Serve the busiest commands (place an order, add items, change a status, "
        "bump, recall or void an item) without FastAPI's per-request work; anything the lane "
        "cannot answer exactly as the FastAPI route would goes on to it "
        "(interfaces/http/lane.py).",
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_level(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("sqlite_synchronous", mode="before")
    @classmethod
    def _upper_synchronous(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("business_day_timezone")
    @classmethod
    def _real_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


def load_settings(**overrides: Any) -> Settings:
    """Read the settings from the environment (``overrides`` win); raise ``SettingsError``."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from exc


def _describe(exc: ValidationError) -> str:
    lines = ["invalid settings:"]
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "?"
        lines.append(f"  {ENV_PREFIX}{field.upper()}: {error['msg']}")
    return "\n".join(lines)
