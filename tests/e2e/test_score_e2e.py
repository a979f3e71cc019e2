"""Weighted suspicion through the real proxy (issue 17, "Weighted suspicion").

Addresses come through a trusted X-Forwarded-For and the JA4 through the header a
TLS-terminating balancer passes (`--ja4-header`), so loopback stands in for AWS,
a documentation range and python-requests' TLS stack. Then `optout replay` runs
the log the proxy wrote through other weights.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import aiohttp
from harness import ROOT, Upstream, start_proxy

CHROME = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
AWS_ADDRESS = "3.5.140.9"  # in rules/networks/aws.txt: 3.5.140.0/22 S3 ap-northeast-2
DOCUMENTATION = "198.51.100.4"  # TEST-NET-2: in no list
CRAWLER, READER = "198.51.100.20", "198.51.100.21"
PYTHON_REQUESTS_JA4 = "t13d1812h1_85036bcba153_b26ce05bbdd6"  # rules/tls/clients.yaml: library
RULE = '  - {name: block-suspicious, network: datacenter, score: ">= 2", action: block}\n'


def _rules(tmp_path: Path, rule: str = RULE, weights: str = "") -> Path:
    rules = tmp_path / "rules"
    if not rules.exists():
        shutil.copytree(ROOT / "rules", rules)
    policy = rules / "policy.yaml"
    text = (ROOT / "rules" / "policy.yaml").read_text()
    text = text.replace("\nrules:\n", "\nrules:\n" + rule, 1)
    for line in weights.splitlines():  # "name: weight" replaces the shipped line
        name = line.split(":")[0].strip()
        text = text.replace(next(x for x in text.splitlines() if x.startswith(f"  {name}:")), line)
    policy.write_text(text)
    return rules


async def _get(url: str, address: str, **headers: str) -> int:
    sent = {"User-Agent": CHROME, "X-Forwarded-For": address, "Accept": "text/html", **headers}
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers=sent) as response:
            await response.read()
            return response.status


async def test_a_suspicious_datacenter_browser_is_blocked_and_a_person_is_not(
    upstream: Upstream, tmp_path: Path
) -> None:
    rules = _rules(tmp_path)
    proxy = await start_proxy(
        upstream.url,
        tmp_path,
        "--trusted-proxies",
        "127.0.0.0/8",
        "--ja4-header",
        "X-Client-JA4",
        rules=rules,
    )
    page = f"{proxy.url}/page"
    # No Accept-Language on a document request: no-accept-language (1) + datacenter (1).
    assert await _get(page, AWS_ADDRESS) == 403
    assert await _get(page, DOCUMENTATION) == 200  # the same request, residential: 1
    assert await _get(page, AWS_ADDRESS, **{"Accept-Language": "en"}) == 200  # datacenter: 1
    # A Chrome user agent over python-requests' TLS: ua-tls-mismatch (2), and as it came
    # over TLS without Chrome's sec-ch-ua, ua-headers-mismatch (1); datacenter (1).
    tls = {"Accept-Language": "en", "X-Client-JA4": PYTHON_REQUESTS_JA4}
    assert await _get(page, AWS_ADDRESS, **tls) == 403
    assert await _get(page, DOCUMENTATION, **tls) == 200  # 3, but not from a datacenter
    blocked, person, vpn, mismatch, home = await proxy.stop()

    assert blocked["optout"]["rule"] == "block-suspicious"
    assert blocked["http"]["response"]["status_code"] == 403
    assert blocked["optout"]["score"] == 2
    assert blocked["optout"]["score_parts"] == {"datacenter": 1, "no-accept-language": 1}
    assert person["optout"]["rule"] == "default"
    assert person["optout"]["score"] == 1
    assert person["optout"]["score_parts"] == {"no-accept-language": 1}
    assert (vpn["optout"]["rule"], vpn["optout"]["score"]) == ("default", 1)
    assert mismatch["optout"]["rule"] == "block-suspicious"
    assert mismatch["optout"]["score_parts"] == {
        "datacenter": 1,
        "ua-tls-mismatch": 2,
        "ua-headers-mismatch": 1,
    }
    assert mismatch["tls"]["client"]["ja4"] == PYTHON_REQUESTS_JA4
    assert (home["optout"]["rule"], home["optout"]["score"]) == ("default", 3)
    assert len(upstream.requests) == 3  # the blocked ones never reached the site

    # The same log under other weights: no-accept-language off lets the first one in.
    replayed = _rules(tmp_path, weights="  no-accept-language: 0")
    out = _replay(replayed, proxy.log)
    assert "5 requests replayed, 4 unchanged, 1 changed" in out
    assert "1  block (block-suspicious) -> allow (default)" in out
    assert "e.g. (no agent) /page at " in out
    assert "(score 1)" in out
    assert "2 scores changed" in out  # the two without Accept-Language each lost 1


async def test_a_forged_forwarded_for_moves_nobody_into_a_datacenter(
    upstream: Upstream, tmp_path: Path
) -> None:
    """Without --trusted-proxies the client's own X-Forwarded-For is not its address."""
    proxy = await start_proxy(upstream.url, tmp_path, rules=_rules(tmp_path))
    assert await _get(f"{proxy.url}/page", AWS_ADDRESS) == 200
    (record,) = await proxy.stop()
    assert record["optout"]["network"] == {"provider": "residential/unknown"}
    assert (record["optout"]["score"], record["optout"]["rule"]) == (1, "default")


async def test_a_crawl_without_robots_txt_shows_and_scores(
    upstream: Upstream, tmp_path: Path
) -> None:
    proxy = await start_proxy(upstream.url, tmp_path, "--trusted-proxies", "127.0.0.0/8")
    lang = {"Accept-Language": "en"}
    for i in range(10):
        await _get(f"{proxy.url}/releases/{i}", CRAWLER, **lang)
    assert await _get(f"{proxy.url}/robots.txt", READER, **lang) == 200
    for i in range(10):
        await _get(f"{proxy.url}/releases/{i}", READER, **lang)
    for _ in range(20):  # one page and its images, again and again: no crawl
        await _get(f"{proxy.url}/cover.png", DOCUMENTATION, **lang)
    records = await proxy.stop()

    # People's addresses are pseudonymised in the log: the records are in request order.
    seen = [r["optout"].get("signals_seen", []) for r in records]
    assert seen[:10] == [[]] * 9 + [["no-robots-crawl"]]
    crawl = records[9]
    assert crawl["optout"]["score_parts"] == {"no-robots-crawl": 1}
    assert crawl["optout"]["rule"] == "default"  # the shipped policy acts on no score
    assert records[10]["url"]["path"] == "/robots.txt"
    assert seen[10:] == [[]] * 31
    assert len(records) == 41


def _replay(rules: Path, log: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "proxy", "replay", "--rules", str(rules), str(log)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    return done.stdout
