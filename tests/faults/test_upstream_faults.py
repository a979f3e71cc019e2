"""An upstream that refuses, hangs, resets or talks garbage, through the real proxy.

Each fault must give the client a clean answer (or a cleanly closed connection),
never an engine banner, the upstream's address or an errno, and leave a record.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from e2e.harness import Proxy, start_proxy
from faulty import HTML, TIMEOUT_ENV, Faulty, closed_port, kill

RESERVATION = ("tdm-reservation", "content-usage", "x-robots-tag", "link")
HANG_GUARD = aiohttp.ClientTimeout(total=30)  # only catches a hang


def assert_clean_page(status: int, headers: Any, body: bytes, port: int) -> None:
    for name in RESERVATION:
        assert name in headers, name
    text = body.decode().lower()
    for leak in ("mitmproxy", "errno", "127.0.0.1", str(port), "connect call"):
        assert leak not in text, leak
    assert "mitmproxy" not in headers.get("server", "").lower()
    assert headers["content-type"].startswith("text/html")


async def fetch(url: str) -> tuple[int, Any, bytes]:
    async with (
        aiohttp.ClientSession(timeout=HANG_GUARD) as session,
        session.get(url) as response,
    ):
        return response.status, response.headers, await response.read()


def only_record(records: list[dict[str, Any]], path: str) -> dict[str, Any]:
    matching = [r for r in records if r["url"]["path"] == path]
    assert len(matching) == 1, records
    return matching[0]


async def test_upstream_down_is_a_clean_502(tmp_path: Path) -> None:
    port = closed_port()
    proxy = await start_proxy(f"http://127.0.0.1:{port}", tmp_path, env=TIMEOUT_ENV)
    try:
        status, headers, body = await fetch(f"{proxy.url}/page")
        assert status == 502
        assert b"temporarily unavailable" in body
        assert_clean_page(status, headers, body, port)
    finally:
        records = await proxy.stop()
    record = only_record(records, "/page")
    assert record["http"]["response"]["status_code"] == 502
    assert record["error"]["message"]  # the engine's reason, kept for the operator
    assert record["event"]["outcome"] == "failure"


async def test_upstream_slow_is_a_504_after_the_timeout(proxy: Proxy, upstream: Faulty) -> None:
    status, headers, body = await fetch(f"{proxy.url}/hang")
    assert status == 504
    assert b"took too long" in body
    assert_clean_page(status, headers, body, int(upstream.url.rsplit(":", 1)[1]))
    status, _, body = await fetch(f"{proxy.url}/fine")  # the proxy is still serving
    assert (status, body) == (200, b"ok")
    record = only_record(await proxy.stop(), "/hang")
    assert record["error"]["message"] == "upstream timeout"
    assert record["http"]["response"]["status_code"] == 504


async def test_reset_mid_body_of_a_streamed_download(proxy: Proxy) -> None:
    async with aiohttp.ClientSession(timeout=HANG_GUARD) as session:
        async with session.get(f"{proxy.url}/reset-big") as response:
            assert response.status == 200
            assert response.headers["tdm-reservation"] == "1"
            with pytest.raises(aiohttp.ClientPayloadError):
                await response.read()
    record = only_record(await proxy.stop(), "/reset-big")
    assert record["http"]["response"]["status_code"] == 200  # what the client got first
    assert record["error"]["message"]
    assert record["event"]["outcome"] == "failure"


async def test_reset_mid_body_of_a_buffered_page_is_a_502(proxy: Proxy, upstream: Faulty) -> None:
    status, headers, body = await fetch(f"{proxy.url}/reset-page")
    assert status == 502
    assert_clean_page(status, headers, body, int(upstream.url.rsplit(":", 1)[1]))
    record = only_record(await proxy.stop(), "/reset-page")
    assert record["http"]["response"]["status_code"] == 502
    assert record["error"]["message"]


@pytest.mark.parametrize("path", ["/garbage", "/garbage-close"])
async def test_garbage_instead_of_http_is_a_502(proxy: Proxy, upstream: Faulty, path: str) -> None:
    status, headers, body = await fetch(f"{proxy.url}{path}")
    assert status == 502
    assert_clean_page(status, headers, body, int(upstream.url.rsplit(":", 1)[1]))
    assert b"SSH" not in body
    record = only_record(await proxy.stop(), path)
    assert record["http"]["response"]["status_code"] == 502
    assert record["error"]["message"]


async def test_broken_content_encoding_passes_untouched(proxy: Proxy) -> None:
    async with (
        aiohttp.ClientSession(timeout=HANG_GUARD, auto_decompress=False) as session,
        session.get(f"{proxy.url}/broken-gzip") as response,
    ):
        assert response.status == 200
        assert response.headers["content-encoding"] == "gzip"
        for name in RESERVATION:
            assert name in response.headers
        assert await response.read() == HTML
    record = only_record(await proxy.stop(), "/broken-gzip")
    assert any("Content-Encoding" in note for note in record["optout"]["notes"])


async def test_upstream_down_then_back(tmp_path: Path) -> None:
    """A refused connection is per request: the next one is tried again."""
    port = closed_port()
    proxy = await start_proxy(f"http://127.0.0.1:{port}", tmp_path, env=TIMEOUT_ENV)
    try:
        for _ in range(3):
            status, _, _ = await fetch(f"{proxy.url}/")
            assert status == 502
        assert proxy.process.returncode is None
    finally:
        await kill(proxy)
