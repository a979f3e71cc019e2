"""Checks that the demo label site serves what the proxy demos rely on."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from proxy.demo import bound_port, serve
from proxy.demo.site import _large_chunk

MIB = 1024 * 1024


@pytest.fixture
async def base_url() -> AsyncIterator[str]:
    runner: web.AppRunner = await serve("127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{bound_port(runner)}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.mark.parametrize("path", ["/", "/artists/", "/releases/aurora-ep", "/press/"])
async def test_html_pages(base_url: str, session: aiohttp.ClientSession, path: str) -> None:
    async with session.get(base_url + path) as resp:
        assert resp.status == 200
        assert resp.content_type == "text/html"
        assert resp.charset == "utf-8"
        html = await resp.text()
    assert html.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in html
    assert "<title>" in html
    assert "</html>" in html
    assert '<link rel="stylesheet" href="/static/site.css">' in html
    assert "Northern Lights Records" in html


async def test_release_page_embeds_media_and_own_robots_meta(
    base_url: str, session: aiohttp.ClientSession
) -> None:
    async with session.get(base_url + "/releases/aurora-ep") as resp:
        html = await resp.text()
    assert '<meta name="robots" content="max-image-preview:large">' in html
    assert 'src="/media/aurora-cover.png"' in html
    assert '<audio controls preload="none" src="/media/aurora-preview.mp3">' in html
    # Only the release page carries the label's robots meta.
    async with session.get(base_url + "/") as resp:
        assert 'name="robots"' not in await resp.text()


async def test_mp3_preview(base_url: str, session: aiohttp.ClientSession) -> None:
    async with session.get(base_url + "/media/aurora-preview.mp3") as resp:
        assert resp.status == 200
        assert resp.content_type == "audio/mpeg"
        body = await resp.read()
    assert len(body) < 200_000
    assert body[:3] == b"ID3" or (body[0] == 0xFF and body[1] & 0xE0 == 0xE0)
    # Skip the ID3v2 tag (syncsafe size) and check the first MPEG frame header.
    size = int.from_bytes(bytes(b & 0x7F for b in body[6:10]), "big")
    frame = body[10 + size :]
    assert frame[0] == 0xFF
    assert frame[1] & 0xFE == 0xFA  # MPEG-1 Layer III


async def test_png_cover(base_url: str, session: aiohttp.ClientSession) -> None:
    async with session.get(base_url + "/media/aurora-cover.png") as resp:
        assert resp.status == 200
        assert resp.content_type == "image/png"
        body = await resp.read()
    assert body.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(body) < 100_000
    assert int.from_bytes(body[16:20], "big") == 300  # IHDR width
    idat = body.index(b"IDAT")
    length = int.from_bytes(body[idat - 4 : idat], "big")
    assert len(zlib.decompress(body[idat + 4 : idat + 4 + length])) == 300 * (1 + 900)


async def test_stylesheet(base_url: str, session: aiohttp.ClientSession) -> None:
    async with session.get(base_url + "/static/site.css") as resp:
        assert resp.status == 200
        assert resp.content_type == "text/css"
        assert "body" in await resp.text()


async def test_robots_txt(base_url: str, session: aiohttp.ClientSession) -> None:
    async with session.get(base_url + "/robots.txt") as resp:
        assert resp.status == 200
        assert resp.content_type == "text/plain"
        text = await resp.text()
    lines = text.splitlines()
    star = lines.index("User-agent: *")
    assert lines[star + 1] == "Disallow: /admin/"
    assert "Allow: /" in lines
    google = lines.index("User-agent: Googlebot")
    assert lines[google + 1] == "Disallow: /private/"
    host = base_url.removeprefix("http://")
    assert f"Sitemap: http://{host}/sitemap.xml" in lines


async def test_robots_sitemap_follows_host_header(
    base_url: str, session: aiohttp.ClientSession
) -> None:
    headers = {"Host": "label.example"}
    async with session.get(base_url + "/robots.txt", headers=headers) as resp:
        assert "Sitemap: http://label.example/sitemap.xml" in await resp.text()


async def test_sitemap(base_url: str, session: aiohttp.ClientSession) -> None:
    async with session.get(base_url + "/sitemap.xml") as resp:
        assert resp.status == 200
        assert resp.content_type == "application/xml"
        xml = await resp.text()
    assert f"<loc>{base_url}/releases/aurora-ep</loc>" in xml


async def test_large_download_streams_exact_size(
    base_url: str, session: aiohttp.ClientSession
) -> None:
    async with session.get(base_url + "/large/demo.bin?mb=2") as resp:
        assert resp.status == 200
        assert resp.content_type == "audio/mpeg"
        assert resp.content_length == 2 * MIB
        total = 0
        first = b""
        async for chunk in resp.content.iter_chunked(64 * 1024):
            if total < 64 * 1024:
                first += chunk[: 64 * 1024 - total]
            total += len(chunk)
    assert total == 2 * MIB
    assert first == _large_chunk(0)


async def test_large_download_default_size_head(
    base_url: str, session: aiohttp.ClientSession
) -> None:
    async with session.head(base_url + "/large/demo.bin") as resp:
        assert resp.status == 200
        assert resp.content_length == 10 * MIB


@pytest.mark.parametrize("mb", ["0", "51", "x", "-1"])
async def test_large_download_rejects_bad_size(
    base_url: str, session: aiohttp.ClientSession, mb: str
) -> None:
    async with session.get(base_url + f"/large/demo.bin?mb={mb}") as resp:
        assert resp.status == 400


async def test_healthz(base_url: str, session: aiohttp.ClientSession) -> None:
    async with session.get(base_url + "/healthz") as resp:
        assert resp.status == 200
        assert await resp.text() == "ok"


async def test_unknown_path_is_html_404(base_url: str, session: aiohttp.ClientSession) -> None:
    async with session.get(base_url + "/no/such/page") as resp:
        assert resp.status == 404
        assert resp.content_type == "text/html"
        assert "Page not found" in await resp.text()
