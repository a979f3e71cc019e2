"""The licensing path through the real proxy: licensed partners, paid access, throttling."""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from harness import ROOT, Proxy, Upstream, start_proxy

from proxy.licensing import tokens as licence

GPTBOT = "Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)"
SEARCHBOT = "Mozilla/5.0 (compatible; OAI-SearchBot/1.0; +https://openai.com/searchbot)"
AHREFS = "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)"
OPENAI_GPTBOT_IP = "20.171.206.7"
OPENAI_SEARCH_IP = "20.42.10.180"


@pytest.fixture
def key() -> licence.Ed25519PrivateKey:
    return licence.generate_key()


@pytest.fixture
async def licensed_proxy(
    upstream: Upstream, tmp_path: Path, key: licence.Ed25519PrivateKey
) -> AsyncIterator[Proxy]:
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    policy = (rules / "policy.yaml").read_text()
    policy = policy.replace(
        "rules:\n",
        f"""licences:
  public_keys: ["{licence.public_key_text(key)}"]

rules:
  - {{name: licensed-training, agent: GPTBot, action: licence}}
  - {{name: charge-ai-search, purpose: ai-search, action: charge, price: USD 0.01}}
  - {{name: throttle-seo, purpose: seo, action: throttle, rate: 1/min burst 2, per: client}}
""",
        1,
    )
    (rules / "policy.yaml").write_text(policy)
    proxy = await start_proxy(
        upstream.url, tmp_path, "--trusted-proxies", "127.0.0.0/8", rules=rules
    )
    yield proxy
    if proxy.process.returncode is None:
        proxy.process.kill()
        await proxy.process.wait()


async def _get(proxy: Proxy, path: str, headers: dict[str, str]) -> aiohttp.ClientResponse:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{proxy.url}{path}", headers=headers) as response:
            await response.read()
            return response


def _token(key: licence.Ed25519PrivateKey, paths: list[str]) -> str:
    expires = datetime.now(UTC) + timedelta(days=30)
    return licence.issue(key, licensee="Acme AI", agents=["GPTBot"], paths=paths, expires=expires)


async def test_licensed_and_unlicensed_crawlers(
    licensed_proxy: Proxy, upstream: Upstream, key: licence.Ed25519PrivateKey
) -> None:
    crawler = {"User-Agent": GPTBOT, "X-Forwarded-For": OPENAI_GPTBOT_IP}
    token = _token(key, ["/page"])
    ok = await _get(licensed_proxy, "/page", {**crawler, "Authorization": f"License {token}"})
    missing = await _get(licensed_proxy, "/page", crawler)
    wrong_path = _token(key, ["/press/"])
    scoped = await _get(
        licensed_proxy, "/page", {**crawler, "Authorization": f"License {wrong_path}"}
    )
    assert ok.status == 200
    assert missing.status == 401
    assert missing.headers["www-authenticate"] == (
        'License error="invalid_request", '
        'error_description="a licence is required for this content"'
    )
    assert 'rel="license"' in missing.headers["link"]
    assert scoped.status == 401
    assert 'error="insufficient_scope"' in scoped.headers["www-authenticate"]
    assert upstream.requests == ["/page"]
    licensed, refused, out_of_scope = await licensed_proxy.stop()
    assert licensed["optout"]["licensee"] == "Acme AI"
    assert licensed["optout"]["rule"] == "licence"
    assert licensed["optout"]["identity"] == "verified"
    assert refused["optout"]["outcome"] == "licence-required"
    assert out_of_scope["optout"]["licence"]["error"] == "insufficient_scope"
    assert token not in licensed_proxy.log.read_text()  # a credential never reaches the log


async def test_paid_access(licensed_proxy: Proxy, upstream: Upstream, tmp_path: Path) -> None:
    crawler = {"User-Agent": SEARCHBOT, "X-Forwarded-For": OPENAI_SEARCH_IP}
    unpaid = await _get(licensed_proxy, "/page", crawler)
    assert unpaid.status == 402
    assert unpaid.headers["crawler-price"] == "USD 0.01"
    low = await _get(licensed_proxy, "/page", {**crawler, "crawler-max-price": "USD 0.001"})
    assert low.status == 402
    assert low.headers["crawler-error"] == "InvalidCrawlerMaxPrice"
    both = {**crawler, "crawler-max-price": "USD 1", "crawler-exact-price": "USD 0.01"}
    assert (await _get(licensed_proxy, "/page", both)).status == 400
    spoofed = {"User-Agent": SEARCHBOT, "crawler-max-price": "USD 1"}  # from 127.0.0.1
    assert (await _get(licensed_proxy, "/page", spoofed)).status == 403
    for _ in range(3):
        paid = await _get(licensed_proxy, "/page", {**crawler, "crawler-max-price": "USD 0.05"})
        assert paid.status == 200
        assert paid.headers["crawler-charged"] == "USD 0.01"
    assert upstream.requests == ["/page"] * 3
    records = await licensed_proxy.stop()
    assert [r["optout"].get("charged") for r in records[-3:]] == [
        {"currency": "USD", "amount": "0.01"}
    ] * 3
    summary = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "proxy",
        "charges",
        "summary",
        "--state",
        str(tmp_path / "state"),
        "--json",
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await summary.communicate()
    month = datetime.now(UTC).strftime("%Y-%m")
    assert out.decode().strip() == (
        f'[{{"agent": "OAI-SearchBot", "month": "{month}", "currency": "USD", '
        f'"requests": 3, "amount": "0.03"}}]'
    )


async def test_throttling(licensed_proxy: Proxy) -> None:
    first = {"User-Agent": AHREFS, "X-Forwarded-For": "198.51.100.1"}
    other = {"User-Agent": AHREFS, "X-Forwarded-For": "198.51.100.2"}
    statuses = [(await _get(licensed_proxy, "/page", first)).status for _ in range(3)]
    assert statuses == [200, 200, 429]
    over = await _get(licensed_proxy, "/page", first)
    assert int(over.headers["retry-after"]) >= 1
    assert (await _get(licensed_proxy, "/page", other)).status == 200  # its own bucket
    records = await licensed_proxy.stop()
    assert [r["optout"]["outcome"] for r in records] == [
        "allowed",
        "allowed",
        "throttled",
        "throttled",
        "allowed",
    ]
