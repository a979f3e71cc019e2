"""The proxy end to end: real upstream, real proxy process, real HTTP."""

from __future__ import annotations

import asyncio
import hashlib

import aiohttp
import pytest
from harness import BIG, PAGE, Proxy, Upstream

BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
CLAUDEBOT = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; "
    "+claudebot@anthropic.com)"
)
GPTBOT = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; "
    "+https://openai.com/gptbot)"
)
RESERVATION = {
    "tdm-reservation": "1",
    "tdm-policy": "https://label.example/tdm-policy.json",
    "content-usage": "train-ai=n",
    "x-robots-tag": "noai, noimageai",
    "link": '<https://label.example/licensing>; rel="license"; type="application/rsl+xml"',
}


def assert_reserved(headers: aiohttp.typedefs.LooseHeaders) -> None:
    for name, value in RESERVATION.items():
        assert headers.get(name) == value, name  # type: ignore[union-attr]


async def test_browser_gets_the_page_with_the_reservation(proxy: Proxy, upstream: Upstream) -> None:
    async with aiohttp.ClientSession(headers={"User-Agent": BROWSER}) as session:
        async with session.get(f"{proxy.url}/page") as response:
            body = await response.read()
            assert response.status == 200
            assert_reserved(response.headers)
    # The page is intact; only our meta tags were added to its head.
    ours = (
        b'<meta name="tdm-reservation" content="1">'
        b'<meta name="tdm-policy" content="https://label.example/tdm-policy.json">'
        b'<meta name="robots" content="noai, noimageai">'
        b'<link rel="license" type="application/rsl+xml" href="https://label.example/licensing">'
    )
    assert ours in body
    assert body.replace(ours, b"") == PAGE
    assert upstream.requests == ["/page"]
    records = await proxy.stop()
    assert len(records) == 1
    record = records[0]
    assert record["event"]["action"] == "allow"
    assert record["http"]["response"] == {"status_code": 200, "body": {"bytes": len(body)}}
    assert record["optout"]["agent"] is None
    assert record["optout"]["identity"] == "none"
    assert record["optout"]["rule"] == "default"
    assert record["user_agent"]["original"] == BROWSER
    assert record["source"]["address"].startswith("anon-")  # people get a pseudonym
    assert record["event"]["sequence"] == 1
    assert record["optout"]["chain"] == {"prev": "0" * 64, "alg": "sha256"}


@pytest.mark.parametrize("accept", ["text/html", "*/*"])
async def test_ai_training_crawler_is_blocked_without_reaching_upstream(
    proxy: Proxy, upstream: Upstream, accept: str
) -> None:
    # Anthropic publishes no check we can run: the claim stands, and is blocked.
    headers = {"User-Agent": CLAUDEBOT, "Accept": accept}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.get(f"{proxy.url}/page?x=1") as response:
            body = await response.text()
            assert response.status == 403
            assert_reserved(response.headers)
            assert "block-ai-training" in body
            assert "Directive (EU) 2019/790" in body
            assert "https://label.example/licensing" in body
            assert response.content_type == ("text/html" if accept == "text/html" else "text/plain")
    assert upstream.requests == []
    (record,) = await proxy.stop()
    assert record["event"]["action"] == "block"
    assert record["source"]["ip"] == "127.0.0.1"  # crawlers keep their address: the evidence
    del record["optout"]["chain"]
    # The exact reservation headers it carried, kept once by hash (issue 18).
    assert len(record["optout"].pop("headers_served")["sha256"]) == 64
    assert record["http"]["response"]["status_code"] == 403
    assert record["http"]["response"]["body"]["bytes"] == len(body.encode())
    assert record["url"] == {"domain": "127.0.0.1", "path": "/page", "query": "x=1"}
    assert record["optout"] == {
        "agent": "ClaudeBot",
        "operator": "Anthropic",
        "purpose": "ai-training",
        "identity": "claimed",
        "rule": "block-ai-training",
        "outcome": "blocked",
        "network": {"provider": "residential/unknown"},  # loopback is in no published range
        "score": 0,  # a residential address showing no suspicious signal
        "signals": [
            "tdm-reservation",
            "tdm-policy",
            "content-usage",
            "link-license",
            "x-robots-tag",
        ],
    }


async def test_large_download_streams_with_the_headers(proxy: Proxy, upstream: Upstream) -> None:
    digest = hashlib.sha256()
    received = 0
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{proxy.url}/big.mp3?wait=1") as response:
            assert response.status == 200
            assert_reserved(response.headers)
            assert response.headers["content-type"] == "audio/mpeg"
            first = await asyncio.wait_for(response.content.read(65536), 20)
            upstream.release_big.set()  # only a streaming proxy gets us here
            received += len(first)
            digest.update(first)
            async for chunk in response.content.iter_chunked(1 << 20):
                received += len(chunk)
                digest.update(chunk)
    expected = hashlib.sha256(bytes(range(256)) * 4096 * (BIG // (1 << 20))).hexdigest()
    assert received == BIG
    assert digest.hexdigest() == expected
    (record,) = await proxy.stop()
    assert record["http"]["response"]["body"]["bytes"] == BIG


async def test_error_and_image_responses_carry_the_reservation(proxy: Proxy) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{proxy.url}/error") as response:
            assert response.status == 500
            assert await response.text() == "upstream broke"
            assert_reserved(response.headers)
        async with session.get(f"{proxy.url}/cover.png") as response:
            assert response.status == 200
            assert (await response.read()).startswith(b"\x89PNG")
            assert_reserved(response.headers)
        async with session.get(f"{proxy.url}/missing") as response:
            assert response.status == 404
            assert_reserved(response.headers)
    records = await proxy.stop()
    assert [r["http"]["response"]["status_code"] for r in records] == [500, 200, 404]


async def test_client_host_reaches_the_upstream(proxy: Proxy) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{proxy.url}/host", headers={"Host": "label.example"}) as response:
            assert await response.text() == "label.example"
    (record,) = await proxy.stop()
    assert record["url"]["domain"] == "label.example"


async def test_one_record_per_request(proxy: Proxy) -> None:
    async with aiohttp.ClientSession() as session:
        for i in range(30):
            ua = CLAUDEBOT if i % 3 == 0 else BROWSER
            async with session.get(f"{proxy.url}/page?i={i}", headers={"User-Agent": ua}) as r:
                await r.read()
    records = await proxy.stop()
    assert sorted(int(r["url"]["query"][2:]) for r in records) == list(range(30))
    assert sum(r["event"]["action"] == "block" for r in records) == 10
