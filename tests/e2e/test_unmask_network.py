"""Where a request comes from, through the real proxy (issue 16 §1, done-when).

Addresses come through a trusted X-Forwarded-For, so loopback stands in for the
internet: a Chrome user agent from GPTBot's range, from AWS, and from a
documentation range that no list holds.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
from harness import Upstream, start_proxy

CHROME = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
OPENAI_ADDRESS = "20.171.206.7"  # in rules/ipranges/openai-gptbot.json
AWS_ADDRESS = "3.5.140.9"  # in rules/networks/aws.txt: 3.5.140.0/22 S3 ap-northeast-2
DOCUMENTATION = "198.51.100.4"  # TEST-NET-2: in no list


async def _get(url: str, address: str) -> int:
    headers = {"User-Agent": CHROME, "X-Forwarded-For": address, "Accept-Language": "en"}
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers=headers) as response:
            await response.read()
            return response.status


async def test_chrome_from_gptbot_range_is_undeclared_and_blocked(
    upstream: Upstream, tmp_path: Path
) -> None:
    proxy = await start_proxy(upstream.url, tmp_path, "--trusted-proxies", "127.0.0.0/8")
    assert await _get(f"{proxy.url}/page", OPENAI_ADDRESS) == 403
    assert await _get(f"{proxy.url}/page", DOCUMENTATION) == 200
    assert await _get(f"{proxy.url}/page", AWS_ADDRESS) == 200
    undeclared, person, aws = await proxy.stop()

    assert undeclared["optout"]["identity"] == "undeclared"
    assert undeclared["optout"]["agent"] == "GPTBot"  # treated like GPTBot: ai-training
    assert undeclared["optout"]["rule"] == "block-ai-training"
    assert undeclared["optout"]["undeclared_operator"] == "OpenAI"
    assert undeclared["optout"]["crawler_range"] == "openai-gptbot"
    assert undeclared["source"]["ip"] == OPENAI_ADDRESS
    assert "verified_by" not in undeclared["optout"]

    assert person["optout"]["identity"] == "none"
    assert person["optout"]["network"] == {"provider": "residential/unknown"}
    assert "undeclared_operator" not in person["optout"]

    assert aws["optout"]["identity"] == "none"
    assert aws["optout"]["network"] == {
        "provider": "aws",
        "service": "S3",
        "region": "ap-northeast-2",
    }
    assert len(upstream.requests) == 2
