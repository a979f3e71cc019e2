"""Hostile requests through the real proxy, on raw sockets where HTTP clients refuse to send them.

Oversized heads are refused early (414, 431) without buffering them, oversized
bodies get a 413, and odd header values are classified and logged safely.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from e2e.harness import Proxy, start_proxy
from faulty import MIB, Faulty, kill, raw_exchange, rss_bytes

GPTBOT = b"Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)"
BODY_LIMIT_ENV = {"OPTOUT_UPSTREAM_TIMEOUT": "5", "OPTOUT_MAX_BODY": "1m"}


@pytest.fixture
async def limited(upstream: Faulty, tmp_path: Path) -> AsyncIterator[Proxy]:
    running = await start_proxy(upstream.url, tmp_path, env=BODY_LIMIT_ENV)
    yield running
    await kill(running)


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def records(proxy: Proxy) -> list[dict[str, Any]]:
    return [json.loads(line) for line in proxy.log.read_text().splitlines()]


async def test_request_line_over_8_kib_is_414_and_logged(proxy: Proxy) -> None:
    answer = await raw_exchange(proxy.url, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(answer) == 414
    assert b"mitmproxy" not in answer.lower()
    (record,) = await proxy.stop()
    assert record["http"]["response"]["status_code"] == 414
    assert record["error"]["message"] == "request line too long"
    assert record["url"]["path"].startswith("/aaaa")
    assert record["url"]["path"].endswith("…[truncated]")
    assert record["source"]["address"].startswith("anon-")  # names no agent: pseudonymised
    assert "tdm-reservation" in record["optout"]["signals"]
    assert record["optout"]["chain"]


async def test_header_section_over_16_kib_is_431_and_logged_with_its_agent(
    proxy: Proxy,
) -> None:
    head = (
        b"GET /release HTTP/1.1\r\nHost: label.example\r\nUser-Agent: " + GPTBOT + b"\r\n"
        b"X-Pad: " + b"a" * 17000 + b"\r\n\r\n"
    )
    answer = await raw_exchange(proxy.url, head)
    assert status_of(answer) == 431
    assert b"tdm-reservation: 1" in answer
    (record,) = await proxy.stop()
    assert record["http"]["response"]["status_code"] == 431
    assert record["error"]["message"] == "request header fields too large"
    assert (record["url"]["domain"], record["url"]["path"]) == ("label.example", "/release")
    assert record["optout"]["agent"] == "GPTBot"
    assert record["optout"]["outcome"] == "refused"
    assert record["source"]["ip"] == "127.0.0.1"  # a crawler keeps its address


async def _send_until_closed(url: str, head: bytes, total: int) -> bytes:
    """Send `head`, then up to `total` header bytes in 64 KiB chunks; read until closed."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    chunk = b"X-Flood: " + b"a" * (64 * 1024 - 11) + b"\r\n"
    try:
        for start in range(0, len(head), 64 * 1024):
            writer.write(head[start : start + 64 * 1024])
            await writer.drain()
        for _ in range(total // len(chunk)):
            writer.write(chunk)
            await writer.drain()
    except ConnectionError:
        pass  # the proxy answered and closed: what we want
    try:
        return await asyncio.wait_for(reader.read(), 20)
    except ConnectionError:
        return b""
    finally:
        writer.close()


async def test_64_mb_header_is_refused_early_with_bounded_memory(proxy: Proxy) -> None:
    before = rss_bytes(proxy.process.pid)
    answer = await _send_until_closed(proxy.url, b"GET / HTTP/1.1\r\nHost: x\r\n", 64 * MIB)
    assert answer == b"" or status_of(answer) == 431
    assert rss_bytes(proxy.process.pid) < max(200 * MIB, before + 50 * MIB)
    assert await raw_exchange(
        proxy.url, b"GET /fine HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )


async def test_body_over_the_limit_is_413_before_it_is_read(
    limited: Proxy, upstream: Faulty
) -> None:
    head = b"POST /fine HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (2 * MIB)
    answer = await raw_exchange(limited.url, head + b"a" * 1024)
    assert status_of(answer) == 413
    assert b"tdm-reservation: 1" in answer
    assert upstream.requests == []
    (record,) = [r for r in await limited.stop() if r["url"]["path"] == "/fine"]
    assert record["http"]["response"]["status_code"] == 413
    assert record["error"]["message"] == "request body too large"


async def test_chunked_body_over_the_limit_is_refused_while_streaming(limited: Proxy) -> None:
    chunk = b"a" * (256 * 1024)
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(12)) + b"0\r\n\r\n"
    head = b"POST /fine HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    answer = await _send_until_closed(limited.url, head + body, 0)
    assert answer == b"" or status_of(answer) == 413
    (record,) = [r for r in await limited.stop() if r["url"]["path"] == "/fine"]
    assert record["error"]["message"] == "request body too large"


async def test_body_under_the_limit_passes(limited: Proxy) -> None:
    head = b"POST /fine HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1000\r\n\r\n"
    answer = await raw_exchange(limited.url, head + b"a" * 1000)
    assert status_of(answer) == 200


ODD_HEADERS = [
    b"User-Agent: GPTBot/1.2 \xff\xfe\xc3\x28 caf\xc3\xa9\r\n",  # invalid and valid UTF-8
    b"User-Agent: Mozilla/5.0 \x01\x02\x7f\x1b[31m\ttab\r\n",  # control characters
    b"User-Agent: " + b"ClaudeBot/1.0 " + b"A" * 12000 + b"\r\n",  # huge, under 16 KiB
    b"User-Agent: curl/8\r\n" + b"X: 1\r\n" * 2000,  # thousands of repeats, 12 KB
    b"User-Agent: a\r\nUser-Agent: GPTBot/1.0\r\n",  # two of them
]


@pytest.mark.parametrize("headers", ODD_HEADERS, ids=["utf8", "ctl", "huge", "repeat", "two"])
async def test_odd_headers_are_classified_and_logged_safely(proxy: Proxy, headers: bytes) -> None:
    head = b"GET /fine HTTP/1.1\r\nHost: label.example\r\nConnection: close\r\n" + headers + b"\r\n"
    answer = await raw_exchange(proxy.url, head)
    assert status_of(answer) in (200, 400, 403)
    assert await raw_exchange(
        proxy.url, b"GET /fine HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    raw = (await proxy.stop(), proxy.log.read_bytes())[1]
    raw.decode("utf-8")  # the log stays valid UTF-8 JSON lines
    logged = [r for r in records(proxy) if r["url"]["path"] == "/fine"]
    assert len(logged) == 2
    agent = logged[0]["user_agent"]["original"]
    assert len(agent) <= 2048 + len("…[truncated]")
    if b"A" * 12000 in headers:
        assert agent.endswith("…[truncated]")
        assert logged[0]["optout"]["agent"] == "ClaudeBot"


async def test_forged_forwarded_for_reaches_neither_upstream_nor_log(
    proxy: Proxy, upstream: Faulty
) -> None:
    head = (
        b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"X-Forwarded-For: 66.249.66.1\r\nForwarded: for=66.249.66.1\r\n\r\n"
    )
    answer = await raw_exchange(proxy.url, head)
    forwarded = answer.partition(b"\r\n\r\n")[2].lower()
    assert b"66.249.66.1" not in forwarded
    assert b"x-forwarded-for: 127.0.0.1\r\n" in forwarded
    (record,) = [r for r in await proxy.stop() if r["url"]["path"] == "/echo"]
    assert "66.249.66.1" not in json.dumps(record["source"])
