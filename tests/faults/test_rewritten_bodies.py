"""Findings 5, 9 and 10 of the edge review, through the real proxy in front of aiohttp.

A compression bomb served as HTML, partial content, validators and digests of a
page the proxy rewrites, and HEAD /robots.txt, which must describe what GET serves.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import brotli
import pytest
from aiohttp import web
from e2e.harness import Proxy, start_proxy
from faulty import MIB, kill, rss_bytes

HANG_GUARD = aiohttp.ClientTimeout(total=60)
PAGE = b"<!doctype html><html><head><title>t</title></head><body>" + b"x" * 5000 + b"</body></html>"
ROBOTS = b"User-agent: *\nDisallow: /admin/\n\nUser-agent: GPTBot\nAllow: /\n"
MD5 = hashlib.md5(PAGE).hexdigest()  # noqa: S324 - the origin's Content-MD5


def brotli_bomb(size: int) -> bytes:
    """`size` bytes of HTML-looking text in a few kB of brotli."""
    c = brotli.Compressor(quality=5)
    chunk = b"<p>" + b"a" * (MIB - 3)
    return b"".join(c.process(chunk) for _ in range(size // MIB)) + c.finish()


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return brotli_bomb(1024 * MIB)


def make_app(bomb: bytes) -> web.Application:
    async def page(request: web.Request) -> web.Response:
        headers = {"etag": '"v1"', "content-md5": MD5, "repr-digest": "sha-256=:AAAA:"}
        return web.Response(body=PAGE, content_type="text/html", headers=headers)

    async def partial(request: web.Request) -> web.Response:
        headers = {"content-range": f"bytes 0-99/{len(PAGE)}", "etag": '"v1"'}
        return web.Response(status=206, body=PAGE[:100], content_type="text/html", headers=headers)

    async def bombed(request: web.Request) -> web.Response:
        headers = {"content-encoding": "br", "content-type": "text/html"}
        return web.Response(body=bomb, headers=headers)

    async def robots(request: web.Request) -> web.Response:
        return web.Response(body=ROBOTS, content_type="text/plain")

    app = web.Application()
    app.router.add_get("/page", page)
    app.router.add_get("/partial", partial)
    app.router.add_get("/bomb", bombed)
    app.router.add_get("/robots.txt", robots)
    return app


@pytest.fixture
async def proxy(bomb: bytes, tmp_path: Path) -> AsyncIterator[Proxy]:
    runner = web.AppRunner(make_app(bomb))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    running = await start_proxy(f"http://127.0.0.1:{runner.addresses[0][1]}", tmp_path)
    yield running
    await kill(running)
    await runner.cleanup()


async def fetch(proxy: Proxy, path: str, method: str = "GET") -> tuple[int, Any, bytes]:
    async with (
        aiohttp.ClientSession(timeout=HANG_GUARD, auto_decompress=False) as session,
        session.request(method, f"{proxy.url}{path}") as response,
    ):
        return response.status, response.headers, await response.read()


async def test_a_brotli_bomb_is_passed_as_sent_and_stalls_nobody(proxy: Proxy, bomb: bytes) -> None:
    bombed = asyncio.create_task(fetch(proxy, "/bomb"))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    status, _, _ = await fetch(proxy, "/page")
    took = time.monotonic() - started
    peak = rss_bytes(proxy.process.pid)
    status_bomb, headers, body = await bombed
    peak = max(peak, rss_bytes(proxy.process.pid))
    assert (status, status_bomb) == (200, 200)
    assert took < 1.0
    assert peak < 300 * MIB
    assert body == bomb  # as the origin sent it: not decoded, not rewritten
    assert headers["tdm-reservation"] == "1"
    records = [r for r in await proxy.stop() if r["url"]["path"] == "/bomb"]
    assert any("passed as sent" in note for note in records[0]["optout"]["notes"])


async def test_a_rewritten_page_has_a_weak_etag_and_no_stale_digest(proxy: Proxy) -> None:
    status, headers, body = await fetch(proxy, "/page")
    assert status == 200
    assert b'name="tdm-reservation"' in body
    assert headers["etag"] == 'W/"v1"'
    assert "content-md5" not in headers
    assert "repr-digest" not in headers
    _, head, _ = await fetch(proxy, "/page", "HEAD")
    assert head.get("content-length") in (None, str(len(body)))
    assert head["etag"] == 'W/"v1"'


async def test_partial_content_is_not_rewritten(proxy: Proxy) -> None:
    status, headers, body = await fetch(proxy, "/partial")
    assert (status, body) == (206, PAGE[:100])
    assert headers["content-range"] == f"bytes 0-99/{len(PAGE)}"
    assert headers["etag"] == '"v1"'


async def test_head_robots_txt_describes_what_get_serves(proxy: Proxy) -> None:
    status, got, body = await fetch(proxy, "/robots.txt")
    assert status == 200
    assert ROBOTS.split(b"\n")[1] in body  # the site's own rules are in the merge
    status, head, empty = await fetch(proxy, "/robots.txt", "HEAD")
    assert (status, empty) == (200, b"")
    assert head["content-length"] == got["content-length"] == str(len(body))
    records = [r for r in await proxy.stop() if r["url"]["path"] == "/robots.txt"]
    assert [r["http"]["request"]["method"] for r in records] == ["GET", "HEAD"]
    served = {r["optout"]["served"]["sha256"] for r in records}
    assert served == {hashlib.sha256(body).hexdigest()}
