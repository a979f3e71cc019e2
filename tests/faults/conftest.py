"""Fault-injection fixtures: a misbehaving upstream and the real proxy in front of it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import faulty
import pytest
from e2e.harness import Proxy, start_proxy


@pytest.fixture
async def upstream() -> AsyncIterator[faulty.Faulty]:
    up, server = await faulty.start()
    yield up
    await up.close()
    server.close()
    await server.wait_closed()


@pytest.fixture
async def proxy(upstream: faulty.Faulty, tmp_path: Path) -> AsyncIterator[Proxy]:
    running = await start_proxy(upstream.url, tmp_path, env=faulty.TIMEOUT_ENV)
    yield running
    await faulty.kill(running)
