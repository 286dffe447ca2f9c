"""Shared fixtures: the replay server, temporary databases and a clean environment."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.replay_server import ReplayServer


@pytest.fixture
async def replay() -> AsyncIterator[ReplayServer]:
    """A fresh replay server on 127.0.0.1 for one test."""
    server = ReplayServer()
    await server.start()
    try:
        yield server
    finally:
        await server.close()
