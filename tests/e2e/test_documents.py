"""The reservation documents through the real proxy: robots.txt, tdmrep.json, ai.txt."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from html.parser import HTMLParser
from pathlib import Path

import aiohttp
import pytest
from harness import Proxy, Upstream
from protego import Protego

GPTBOT = "Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)"


async def _get(proxy: Proxy, path: str, ua: str = "curl/8.0") -> tuple[int, str, str]:
    async with aiohttp.ClientSession(headers={"User-Agent": ua}) as session:
        async with session.get(f"{proxy.url}{path}") as response:
            return response.status, response.headers["content-type"], await response.text()


@pytest.mark.parametrize("ua", ["curl/8.0", GPTBOT])
async def test_robots_txt_is_merged_for_everyone(proxy: Proxy, upstream: Upstream, ua: str) -> None:
    status, content_type, text = await _get(proxy, "/robots.txt", ua)
    assert status == 200
    assert content_type == "text/plain; charset=utf-8"
    robots = Protego.parse(text)
    assert not robots.can_fetch("http://label.example/music/", "GPTBot")  # upstream said Allow
    assert not robots.can_fetch("http://label.example/", "CCBot")
    assert robots.can_fetch("http://label.example/music/", "Googlebot")
    assert not robots.can_fetch("http://label.example/admin/x", "Googlebot")
    assert "Sitemap: https://label.example/sitemap.xml" in text
    assert "Content-Usage: train-ai=n" in text
    assert "Content-Signal: search=yes, ai-train=no, ai-input=no" in text
    assert "Article 4 of\n# Directive (EU) 2019/790" in text
    assert "License: https://label.example/licensing" in text
    assert upstream.requests == ["/robots.txt"]
    (record,) = await proxy.stop()
    assert record["optout"]["rule"] == "always-free"


@pytest.mark.parametrize(("status", "allowed"), [(404, True), (503, False)])
async def test_robots_txt_without_an_upstream_file(
    proxy: Proxy, upstream: Upstream, status: int, allowed: bool
) -> None:
    upstream.robots = (status, b"oops")
    code, _, text = await _get(proxy, "/robots.txt")
    assert code == 200
    robots = Protego.parse(text)
    assert robots.can_fetch("http://label.example/music/", "Googlebot") is allowed
    assert not robots.can_fetch("http://label.example/music/", "GPTBot")


async def test_tdmrep_json_is_served_by_the_proxy(proxy: Proxy, upstream: Upstream) -> None:
    status, content_type, text = await _get(proxy, "/.well-known/tdmrep.json", GPTBOT)
    assert status == 200
    assert content_type == "application/json"
    assert json.loads(text) == [
        {
            "location": "/",
            "tdm-reservation": 1,
            "tdm-policy": "https://label.example/tdm-policy.json",
        }
    ]
    status, _, text = await _get(proxy, "/ai.txt", GPTBOT)
    assert status == 200
    assert not Protego.parse(text).can_fetch("http://label.example/a.mp3", "anybot")
    assert upstream.requests == []


@pytest.mark.parametrize("coding", ["gzip", "br"])
async def test_meta_tags_in_compressed_pages(proxy: Proxy, coding: str) -> None:
    async with aiohttp.ClientSession() as session:
        headers = {"Accept-Encoding": coding}
        async with session.get(f"{proxy.url}/encoded/{coding}", headers=headers) as response:
            assert response.status == 200
            assert response.headers["content-encoding"] == coding
            assert response.headers["tdm-reservation"] == "1"
            page = await response.text()
    parser = _Metas()
    parser.feed(page)
    assert parser.metas["tdm-reservation"] == ["1"]  # the page's own "0" was corrected
    assert parser.metas["tdm-policy"] == ["https://label.example/tdm-policy.json"]
    assert parser.metas["robots"] == ["noindex, noai, noimageai"]
    assert parser.licence == ["https://label.example/licensing"]
    assert "<title>Aurora EP</title></head><body><p>Listen</p></body></html>" in page


class _Metas(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.metas: dict[str, list[str]] = {}
        self.licence: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "meta" and values.get("name"):
            self.metas.setdefault(str(values["name"]), []).append(str(values.get("content")))
        if tag == "link" and values.get("rel") == "license":
            self.licence.append(str(values.get("href")))


async def test_served_documents_are_kept_and_the_log_verifies(proxy: Proxy, tmp_path: Path) -> None:
    _, _, robots = await _get(proxy, "/robots.txt", GPTBOT)
    _, _, tdmrep = await _get(proxy, "/.well-known/tdmrep.json", GPTBOT)
    first, second = await proxy.stop()
    state = tmp_path / "state"
    for record, body, kind in ((first, robots, "robots.txt"), (second, tdmrep, "tdmrep.json")):
        served = record["optout"]["served"]
        assert served["kind"] == kind
        assert served["sha256"] == hashlib.sha256(body.encode()).hexdigest()
        assert (state / "served" / served["sha256"]).read_text() == body
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "proxy",
        "logs",
        "verify",
        str(proxy.log),
        "--state",
        str(state),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode == 0, output.decode()
