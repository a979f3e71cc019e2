"""Finding 12 of the edge review: `optout logs verify` on a live, idle or killed proxy.

The chain head is saved on a short timer while records wait for it, so an intact
log never reads as broken, and records removed from its end are still found.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import aiohttp
from e2e.harness import Proxy, start_proxy
from faulty import TIMEOUT_ENV, Faulty, kill

HEAD_BOUND = 1.0  # the writer's sync interval: what a crash can leave unvouched


async def verify(proxy: Proxy, tmp_path: Path) -> tuple[int, str]:
    check = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "proxy", "logs", "verify", str(proxy.log)),
        *("--state", str(tmp_path / "state")),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await check.communicate()
    assert check.returncode is not None
    return check.returncode, out.decode()


async def test_an_idle_then_killed_proxys_log_verifies(upstream: Faulty, tmp_path: Path) -> None:
    proxy = await start_proxy(upstream.url, tmp_path, env=TIMEOUT_ENV)
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(3):  # apart, so they are written in separate batches
                async with session.get(f"{proxy.url}/fine") as response:
                    assert response.status == 200
                await asyncio.sleep(0.1)
        await asyncio.sleep(HEAD_BOUND + 0.5)  # idle: no later batch will come
        rc, out = await verify(proxy, tmp_path)
        assert rc == 0, out
        proxy.process.send_signal(signal.SIGKILL)
        await proxy.process.wait()
        rc, out = await verify(proxy, tmp_path)
        assert rc == 0, out
    finally:
        await kill(proxy)
    lines = proxy.log.read_bytes().splitlines(keepends=True)
    assert len(lines) == 3
    proxy.log.write_bytes(b"".join(lines[:-1]))  # the last record removed
    rc, out = await verify(proxy, tmp_path)
    assert rc == 1
    assert "older than the log" not in out
