"""Operational faults: an unwritable access log, and SIGTERM in the middle of traffic."""

from __future__ import annotations

import asyncio
import json
import re
import signal
from pathlib import Path

import aiohttp
from e2e.harness import Proxy
from faulty import TIMEOUT_ENV, Faulty, kill, start_noisy_proxy

HANG_GUARD = aiohttp.ClientTimeout(total=30)


async def lost_records(proxy: Proxy) -> float:
    assert proxy.admin is not None
    async with (
        aiohttp.ClientSession(timeout=HANG_GUARD) as session,
        session.get(f"{proxy.admin}/metrics") as response,
    ):
        text = await response.text()
    match = re.search(r"^optout_log_records_lost_total (\S+)$", text, re.MULTILINE)
    assert match, text
    return float(match.group(1))


async def test_unwritable_log_keeps_serving_and_counts_lost_records(
    upstream: Faulty, tmp_path: Path
) -> None:
    # A log that opens but takes no byte, as a full disk does: serving goes on.
    # (A log that cannot even be opened is refused at start: tests/engine/test_preflight.py.)
    log = Path("/dev/full")
    proxy = await start_noisy_proxy(upstream.url, tmp_path, log, TIMEOUT_ENV)
    try:
        async with aiohttp.ClientSession(timeout=HANG_GUARD) as session:
            for _ in range(5):
                async with session.get(f"{proxy.url}/fine") as response:
                    assert (response.status, await response.read()) == (200, b"ok")
        for _ in range(100):  # the writer thread counts a batch when it fails
            if await lost_records(proxy) >= 5:
                break
            await asyncio.sleep(0.1)
        assert await lost_records(proxy) >= 5
        assert proxy.process.returncode is None
    finally:
        await kill(proxy)


async def _hammer(url: str, ok: list[int], stop: asyncio.Event, enough: asyncio.Event) -> None:
    """Request until told to stop or until the proxy goes away; count the 200s received."""
    async with aiohttp.ClientSession(timeout=HANG_GUARD) as session:
        while not stop.is_set():
            try:
                async with session.get(url) as response:
                    if response.status == 200 and await response.read() == b"ok":
                        ok.append(1)
                        if len(ok) >= 200:
                            enough.set()
            except aiohttp.ClientError:
                return


async def test_sigterm_under_load_loses_no_record(proxy: Proxy) -> None:
    ok: list[int] = []
    stop, enough = asyncio.Event(), asyncio.Event()
    url = f"{proxy.url}/fine"
    clients = [asyncio.create_task(_hammer(url, ok, stop, enough)) for _ in range(8)]
    await asyncio.wait_for(enough.wait(), 60)
    proxy.process.send_signal(signal.SIGTERM)
    await asyncio.wait_for(proxy.process.wait(), 30)
    stop.set()
    await asyncio.wait_for(asyncio.gather(*clients), 30)
    records = [json.loads(line) for line in proxy.log.read_text().splitlines()]
    logged = [
        r
        for r in records
        if r.get("url", {}).get("path") == "/fine"
        and r["http"].get("response", {}).get("status_code") == 200
    ]
    assert len(logged) >= len(ok) >= 200
