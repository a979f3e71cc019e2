"""Who is really asking, through the real proxy: spoofed, verified, and forged addresses."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from harness import Upstream, start_proxy

GPTBOT = "Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)"
OPENAI_ADDRESS = "20.171.206.7"  # in rules/ipranges/openai-gptbot.json


async def _get(url: str, headers: dict[str, str]) -> int:
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers=headers) as response:
            await response.read()
            return response.status


async def test_gptbot_outside_openai_ranges_is_spoofed(upstream: Upstream, tmp_path: Path) -> None:
    proxy = await start_proxy(upstream.url, tmp_path)
    # Without trusted proxies a forged X-Forwarded-For changes nothing.
    headers = {"User-Agent": GPTBOT, "X-Forwarded-For": OPENAI_ADDRESS}
    assert await _get(f"{proxy.url}/page", headers) == 403
    (record,) = await proxy.stop()
    assert record["source"]["ip"] == "127.0.0.1"
    assert record["optout"]["identity"] == "spoofed"
    assert record["optout"]["rule"] == "block-spoofed"
    assert record["optout"]["verification_failure"] == "127.0.0.1 is not in openai-gptbot"
    assert upstream.requests == []


async def test_forged_forwarded_for_never_reaches_the_upstream(
    upstream: Upstream, tmp_path: Path
) -> None:
    proxy = await start_proxy(upstream.url, tmp_path)
    headers = {"X-Forwarded-For": "6.6.6.6", "Forwarded": "for=6.6.6.6"}
    assert await _get(f"{proxy.url}/headers", headers) == 200
    (record,) = await proxy.stop()
    assert upstream.seen_headers["x-forwarded-for"] == "127.0.0.1"
    assert "forwarded" not in upstream.seen_headers
    # A request that names no agent: the log keeps a pseudonym, not the address.
    assert "ip" not in record["source"]
    assert record["source"]["address"].startswith("anon-")


async def test_verified_crawler_behind_a_trusted_proxy(upstream: Upstream, tmp_path: Path) -> None:
    proxy = await start_proxy(upstream.url, tmp_path, "--trusted-proxies", "127.0.0.0/8")
    headers = {"User-Agent": GPTBOT, "X-Forwarded-For": f"6.6.6.6, {OPENAI_ADDRESS}"}
    assert await _get(f"{proxy.url}/headers", headers) == 403  # verified, and ai-training
    browser = {"User-Agent": "Mozilla/5.0 Firefox/133.0", "X-Forwarded-For": "198.51.100.4"}
    assert await _get(f"{proxy.url}/headers", browser) == 200
    gptbot, person = await proxy.stop()
    assert gptbot["source"]["ip"] == OPENAI_ADDRESS
    assert gptbot["optout"]["identity"] == "verified"
    assert gptbot["optout"]["verified_by"] == "ip-range:openai-gptbot"
    assert gptbot["optout"]["rule"] == "block-ai-training"
    assert person["source"]["address"].startswith("anon-")
    assert upstream.seen_headers["x-forwarded-for"] == "198.51.100.4, 127.0.0.1"
