"""Huge and malformed robots.txt files from the upstream, through the real proxy.

Whatever the site serves, the proxy answers with a file of at most 500 KiB that
begins with our reservation, reads a bounded amount of the upstream's file, and
notes what was odd in the log.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from e2e.harness import Proxy
from faulty import MIB, Faulty, rss_bytes
from protego import Protego

HANG_GUARD = aiohttp.ClientTimeout(total=60)
CAP = 500 * 1024
GROUP = b"User-agent: Googlebot\nDisallow: /private/\nAllow: /\n\n"


async def get_robots(proxy: Proxy) -> tuple[int, Any, bytes]:
    async with (
        aiohttp.ClientSession(timeout=HANG_GUARD) as session,
        session.get(f"{proxy.url}/robots.txt") as response,
    ):
        return response.status, response.headers, await response.read()


def assert_ours_first(status: int, headers: Any, body: bytes) -> Protego:
    assert status == 200
    assert headers["content-type"].startswith("text/plain")
    assert headers["tdm-reservation"] == "1"
    assert len(body) <= CAP
    assert body.startswith(b"# This site reserves its rights")
    robots = Protego.parse(body.decode())
    assert not robots.can_fetch("https://label.example/", "GPTBot")
    return robots


async def robots_record(proxy: Proxy) -> dict[str, Any]:
    records = [r for r in await proxy.stop() if r["url"]["path"] == "/robots.txt"]
    assert len(records) == 1
    return records[0]


@pytest.mark.parametrize(
    ("size", "chunked"),
    [
        (600 * 1024, False),  # over the served cap, read whole (Content-Length)
        (3 * MIB, False),  # over the stream limit, Content-Length: captured
        (5 * MIB, True),  # over the stream limit, chunked: captured
    ],
)
async def test_huge_robots_txt_is_capped(
    proxy: Proxy, upstream: Faulty, size: int, chunked: bool
) -> None:
    upstream.robots = (GROUP * (size // len(GROUP) + 1))[:size]
    upstream.robots_chunked = chunked
    status, headers, body = await get_robots(proxy)
    robots = assert_ours_first(status, headers, body)
    assert not robots.can_fetch("https://label.example/private/x", "Googlebot")
    assert robots.can_fetch("https://label.example/music/", "Googlebot")
    assert not body.endswith(b"User-agent: Googlebot\n")  # no group cut before its rules
    record = await robots_record(proxy)
    assert record["http"]["response"]["status_code"] == 200
    assert any("within" in note for note in record["optout"]["notes"])


async def test_robots_txt_stream_memory_stays_bounded(proxy: Proxy, upstream: Faulty) -> None:
    """50 MB of robots.txt, chunked: the proxy keeps its start, never the whole file."""
    upstream.robots = GROUP * (50 * MIB // len(GROUP))
    upstream.robots_chunked = True
    before = rss_bytes(proxy.process.pid)
    status, headers, body = await get_robots(proxy)
    assert_ours_first(status, headers, body)
    assert rss_bytes(proxy.process.pid) - before < 40 * MIB
    notes = (await robots_record(proxy))["optout"]["notes"]
    assert any("only its start was read" in note for note in notes)


@pytest.mark.parametrize(
    ("body", "note"),
    [
        (b"\x00\xff\xfe\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40, "not UTF-8"),
        (b"User-agent: *\nDisallow: /" + b"a" * 100_000 + b"\n", "longer than"),
        (b"".join(b"User-agent: bot%d\n" % i for i in range(5000)), None),
        (b"User-agent: *\nDisallow /admin\nCrawl-delay: x\n<html>oops</html>\n", "not robots"),
    ],
    ids=["binary", "long-line", "agents-without-rules", "junk-lines"],
)
async def test_malformed_robots_txt_is_merged_leniently(
    proxy: Proxy, upstream: Faulty, body: bytes, note: str | None
) -> None:
    upstream.robots = body
    status, headers, served = await get_robots(proxy)
    robots = assert_ours_first(status, headers, served)
    assert robots.can_fetch("https://label.example/", "bot1")  # upstream allowed it
    record = await robots_record(proxy)
    assert record["http"]["response"]["status_code"] == 200
    if note is not None:
        notes = record["optout"]["notes"]
        assert any(note in n for n in notes), notes
