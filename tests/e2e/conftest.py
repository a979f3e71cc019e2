"""End-to-end fixtures: an upstream and a proxy per test (see harness.py)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from harness import ROOT, Proxy, Upstream, make_app, start_proxy


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


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    """A copy of the shipped rules that a test may rewrite."""
    copy = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", copy)
    return copy


@pytest.fixture
async def started() -> AsyncIterator[list[Proxy]]:
    """Proxies a test starts, killed at the end if the test did not stop them."""
    proxies: list[Proxy] = []
    yield proxies
    for proxy in proxies:
        if proxy.process.returncode is None:
            proxy.process.kill()
            await proxy.process.wait()
