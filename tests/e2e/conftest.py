"""End-to-end fixtures: an upstream and a proxy per test (see harness.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from harness import Proxy, Upstream, make_app, start_proxy


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    state = Upstream()
    runner = web.AppRunner(make_app(state))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    state.url = f"http://127.0.0.1:{port}"
    yield state
    await runner.cleanup()


@pytest.fixture
async def proxy(upstream: Upstream, tmp_path: Path) -> AsyncIterator[Proxy]:
    running = await start_proxy(upstream.url, tmp_path)
    yield running
    if running.process.returncode is None:
        running.process.kill()
        await running.process.wait()
