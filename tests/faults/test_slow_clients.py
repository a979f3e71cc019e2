"""Finding 6 of the edge review: slow-headers clients against a proxy short of descriptors.

slowloris opens many connections and never finishes a request head. With 256
descriptors the proxy serves 96 connections; 300 slow ones must neither keep
clients that send whole requests out nor take the admin port down, and every
slow connection that loses its slot is answered 408 and logged.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
from e2e.harness import start_proxy
from faulty import TIMEOUT_ENV, Faulty, kill

SLOW = 300
NOFILE = 256


async def slow_client(url: str, stop: asyncio.Event) -> bytes:
    """Send a head a line at a time, slower than anyone needs; return what came back."""
    host, port = url.removeprefix("http://").split(":")
    try:
        reader, writer = await asyncio.open_connection(host, int(port))
    except OSError:
        return b"refused"
    try:
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")
        await writer.drain()
        while not stop.is_set():
            try:
                return await asyncio.wait_for(reader.read(4096), 0.5) or b"closed"
            except TimeoutError:
                writer.write(b"X-a: b\r\n")  # a byte now and then restarts mitmproxy's idle timer
                await writer.drain()
        return b"still open"
    except OSError:
        return b"reset"
    finally:
        writer.close()


async def test_slow_heads_neither_lock_clients_out_nor_exhaust_descriptors(
    upstream: Faulty, tmp_path: Path
) -> None:
    proxy = await start_proxy(upstream.url, tmp_path, env=TIMEOUT_ENV, nofile=NOFILE)
    stop = asyncio.Event()
    try:
        slow = [asyncio.create_task(slow_client(proxy.url, stop)) for _ in range(SLOW)]
        await asyncio.sleep(2.5)  # the burst is accepted and its slots older than a second
        latencies, statuses = [], []
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            for _ in range(40):
                started = time.monotonic()
                async with session.get(
                    f"{proxy.url}/fine", headers={"Connection": "close"}
                ) as response:
                    statuses.append(response.status)
                latencies.append(time.monotonic() - started)
                async with session.get(f"{proxy.admin}/healthz") as health:
                    assert health.status == 200
        stop.set()
        answers = await asyncio.gather(*slow)
        records = await proxy.stop()
    finally:
        await kill(proxy)
    # The bar is 95% of probes; in practice every one is answered, but CI runs
    # this under coverage tracing on a loaded machine.
    assert statuses.count(200) >= 38, statuses
    assert sorted(latencies)[37] < 1.0
    # A slow connection that lost its slot to a newer one got 408; one that came while
    # every slot was young got 503. Each says so, with the reservation, and is logged.
    lost = [a for a in answers if a.startswith((b"HTTP/1.1 408 ", b"HTTP/1.1 503 "))]
    assert len(lost) >= SLOW - 96
    assert all(b"tdm-reservation: 1" in a.lower() for a in lost)
    refusals = [r for r in records if r["http"]["response"].get("status_code") in (408, 503)]
    assert len(lost) <= len(refusals) <= SLOW  # a client reset can miss the answer it got
    assert b"Too many open files" not in proxy.log.read_bytes()


async def trickle(url: str, head: bytes, then: bytes, every: float, seconds: float) -> bytes:
    """Send `head`, then `then` a byte at a time; what the proxy answers, or b'' at the end."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head)
        deadline = time.monotonic() + seconds
        for byte in then:
            if time.monotonic() > deadline:
                break
            writer.write(bytes([byte]))
            await writer.drain()
            try:
                answer = await asyncio.wait_for(reader.read(4096), every)
            except TimeoutError:
                continue
            return answer
        return b""
    except (ConnectionResetError, BrokenPipeError):
        return b"reset"
    finally:
        writer.close()


async def test_a_trickled_head_or_body_gets_408_whatever_keeps_arriving(
    upstream: Faulty, tmp_path: Path
) -> None:
    env = {**TIMEOUT_ENV, "OPTOUT_HEAD_TIMEOUT": "1"}
    proxy = await start_proxy(upstream.url, tmp_path, env=env)
    try:
        started = time.monotonic()
        head = await trickle(proxy.url, b"GET /fine HTTP/1.1\r\n", b"X-Slow: " + b"a" * 100, 0.2, 8)
        head_took = time.monotonic() - started
        started = time.monotonic()
        body = await trickle(
            proxy.url,
            b"POST /fine HTTP/1.1\r\nHost: x\r\nContent-Length: 8192\r\n\r\n",
            b"b" * 8192,
            0.2,
            8,
        )
        body_took = time.monotonic() - started
        records = await proxy.stop()
    finally:
        await kill(proxy)
    assert head.startswith(b"HTTP/1.1 408 ")
    assert head_took < 3  # the 1 s head timeout, checked every half second
    assert body.startswith(b"HTTP/1.1 408 ")
    assert body_took < 4  # 1 s of grace plus 8 KiB at 8 KiB/s
    assert [r["http"]["response"].get("status_code") for r in records] == [408, 408], records
