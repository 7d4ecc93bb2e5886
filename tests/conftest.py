"""Shared fixtures: every async test runs on asyncio through anyio's pytest plugin."""

import pytest


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"
