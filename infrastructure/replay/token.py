"""The local admin token: what lets the CLI ask the running server to re-broadcast.

The token lives in a file beside the database (``<database>.admin-token``, mode 0600):
whoever may read it may already read and write the database itself, so it adds no
privilege. The CLI creates it when it first needs it; the server reads it on each admin
request and refuses every admin request while it does not exist.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from infrastructure.migrations import sqlite_file, sync_url

HEADER = "X-Admin-Token"


def token_file(database_url: str) -> Path | None:
    """The token's file for an SQLite database (None for other databases)."""
    path = sqlite_file(sync_url(database_url))
    return None if path is None else path.with_name(path.name + ".admin-token")


def read_token(database_url: str) -> str | None:
    file = token_file(database_url)
    if file is None:
        return None
    try:
        return file.read_text().strip() or None
    except FileNotFoundError:
        return None


def ensure_token(database_url: str) -> str:
    """The token, created (readable by this user only) if there is none yet."""
    existing = read_token(database_url)
    if existing is not None:
        return existing
    file = token_file(database_url)
    if file is None:
        raise ValueError("an admin token needs an SQLite database file")
    token = secrets.token_urlsafe(32)
    try:
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # created meanwhile by another CLI
        return read_token(database_url) or token
    with os.fdopen(fd, "w") as out:
        out.write(token)
    return token


def token_matches(database_url: str, offered: str | None) -> bool:
    expected = read_token(database_url)
    return expected is not None and offered is not None and hmac.compare_digest(expected, offered)
