"""End-to-end: TLS fingerprints of real clients, and the robots.txt trap against real crawlers.

The real proxy on loopback, with its TLS listener (a site certificate from a CA
made here) and the shipped rules plus a trap. Real clients: python-requests,
curl-cffi impersonating Chrome, headless Chromium, and Scrapy crawls that obey
robots.txt or not.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from harness import ROOT, Proxy, start_proxy
from tlscerts import make_ca, write_leaf

CHROMIUM = Path("/usr/bin/chromium")
TRAP = "/catalogue/all-masters-t3st"
CHROME_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
PAGES = {
    "/": b"<!doctype html><html><head><title>Label</title></head><body><h1>Label</h1>"
    b'<p><a href="/releases">Releases</a> <a href="/artists">Artists</a></p></body></html>',
    "/releases": b"<!doctype html><html><head><title>R</title></head><body>"
    b'<a href="/releases/1">One</a></body></html>',
    "/releases/1": b"<!doctype html><html><head><title>1</title></head><body>1</body></html>",
    "/artists": b"<!doctype html><html><head><title>A</title></head><body>A</body></html>",
}
SPIDER = """
import scrapy
from scrapy.linkextractors import LinkExtractor


class Site(scrapy.Spider):
    name = "site"
    custom_settings = {"DEFAULT_REQUEST_HEADERS": {"Host": "label.test", "Accept": "text/html"}}

    async def start(self):
        yield scrapy.Request(self.begin)

    def parse(self, response):
        for link in LinkExtractor().extract_links(response):
            yield response.follow(link.url, self.parse)
"""


@dataclass
class Setup:
    proxy: Proxy
    tmp: Path
    upstream: str

    @property
    def https(self) -> str:
        assert self.proxy.https is not None
        return f"https://{self.proxy.https}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _upstream() -> tuple[web.AppRunner, str]:
    async def page(request: web.Request) -> web.Response:
        body = PAGES.get(request.path)
        if body is None:
            return web.Response(status=404, text="not found")
        return web.Response(body=body, content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    runner, url = await _upstream()
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    policy = (rules / "policy.yaml").read_text()
    (rules / "policy.yaml").write_text(policy + f"\ntrap:\n  path: {TRAP}\n  ttl: 1h\n")
    write_leaf(make_ca(), tmp_path / "certs", "label", ["label.test"])
    (rules / "sites.yaml").write_text(
        f"sites:\n  - hosts: [label.test]\n    upstream: {url}\n    default: true\n"
        f"    tls: {{cert: {tmp_path}/certs/label.pem, key: {tmp_path}/certs/label.key}}\n"
    )
    proxy = await start_proxy("", tmp_path, "--tls", f"127.0.0.1:{_free_port()}", rules=rules)
    yield Setup(proxy, tmp_path, url)
    if proxy.process.returncode is None:
        proxy.process.kill()
        await proxy.process.wait()
    await runner.cleanup()


async def _run(*argv: str, cwd: Path | None = None) -> str:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=cwd
    )
    out, err = await asyncio.wait_for(process.communicate(), 180)
    assert process.returncode == 0, err.decode(errors="replace")[-2000:]
    return out.decode(errors="replace")


def _python(code: str, *args: str) -> Any:
    return _run(sys.executable, "-c", code, *args)


def _by_query(records: list[dict[str, Any]], marker: str) -> dict[str, Any]:
    (found,) = [r for r in records if r.get("url", {}).get("query") == marker]
    return found


async def test_requests_with_a_chrome_ua_is_a_mismatch_curl_cffi_is_not(setup: Setup) -> None:
    url = f"{setup.https}/?c="
    await _python(
        "import sys, requests, urllib3; urllib3.disable_warnings()\n"
        "requests.get(sys.argv[1] + 'requests', verify=False,\n"
        "             headers={'User-Agent': sys.argv[2], 'Host': 'label.test'})",
        url,
        CHROME_UA,
    )
    await _python(
        "import sys; from curl_cffi import requests\n"
        "requests.get(sys.argv[1] + 'cffi', impersonate='chrome', verify=False,\n"
        "             headers={'Host': 'label.test'})",
        url,
    )
    records = await setup.proxy.stop()
    plain, cffi = _by_query(records, "c=requests"), _by_query(records, "c=cffi")
    assert plain["optout"]["client_family"] == "python"
    assert "ua-tls-mismatch" in plain["optout"]["signals_seen"]
    assert plain["tls"]["version"] == "1.3"
    assert cffi["optout"]["client_family"] == "chromium"
    assert "ua-tls-mismatch" not in cffi["optout"].get("signals_seen", [])
    assert cffi["user_agent"]["original"].startswith("Mozilla/5.0")
    assert plain["event"]["action"] == cffi["event"]["action"] == "allow"


def _chromium(tmp: Path, *args: str) -> list[str]:
    return [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--ignore-certificate-errors", f"--user-data-dir={tmp / 'profile'}",
        "--host-resolver-rules=MAP label.test 127.0.0.1", *args,
    ]  # fmt: skip


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed (/usr/bin/chromium)")
async def test_headless_chromium_shows_only_what_the_table_says(setup: Setup) -> None:
    port = setup.https.rsplit(":", 1)[1]
    await _run(*_chromium(setup.tmp, "--dump-dom", f"https://label.test:{port}/?c=chromium"))
    records = await setup.proxy.stop()
    page = _by_query(records, "c=chromium")
    assert page["tls"]["client"]["server_name"] == "label.test"
    assert page["optout"]["client_family"] == "chromium"
    # Its user agent says HeadlessChrome: that, and nothing else, is a signal.
    assert page["optout"]["signals_seen"] == ["automation-token"]
    assert page["event"]["action"] == "allow"


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed (/usr/bin/chromium)")
async def test_a_chromium_page_load_never_requests_the_trap(setup: Setup) -> None:
    port = setup.https.rsplit(":", 1)[1]
    netlog = setup.tmp / "netlog.json"
    dom = await _run(
        *_chromium(setup.tmp, f"--log-net-log={netlog}", "--virtual-time-budget=3000",
                   "--dump-dom", f"https://label.test:{port}/"),
    )  # fmt: skip
    records = await setup.proxy.stop()
    assert TRAP not in netlog.read_text(errors="replace")
    assert all(r["url"]["path"] != TRAP for r in records)
    link = f'<a href="{TRAP}" rel="nofollow" aria-hidden="true" tabindex="-1" hidden=""></a>'
    assert dom.count(link) == 1
    direct = await _run(*_chromium(setup.tmp, "--dump-dom", f"{setup.upstream}/"))
    # The head carries the reservation's meta tags (HtmlMeta); the body only the link.
    assert _body(dom.replace(link, "")) == _body(direct)
    assert _body(dom) != _body(direct)


def _body(dom: str) -> str:
    return dom[dom.index("<body") : dom.index("</body>")]


async def _crawl(setup: Setup, obey: bool) -> list[dict[str, Any]]:
    (setup.tmp / "spider.py").write_text(SPIDER)
    await _run(
        sys.executable, "-m", "scrapy", "runspider", "spider.py", "-a",
        f"begin={setup.proxy.url}/", "-s", f"ROBOTSTXT_OBEY={obey}", "-s",
        "USER_AGENT=examplecrawler/1.0", "-s", "CONCURRENT_REQUESTS=1", "-s",
        "TELNETCONSOLE_ENABLED=False", "-s", "LOG_LEVEL=WARNING", "-s", "HTTPCACHE_ENABLED=False",
        cwd=setup.tmp,
    )  # fmt: skip
    await _python(  # one more request after the crawl, from the same address
        "import sys, urllib.request\n"
        "try: urllib.request.urlopen(urllib.request.Request(sys.argv[1], headers={'User-Agent': "
        "'examplecrawler/1.0', 'Host': 'label.test'}))\nexcept Exception: pass",
        f"{setup.proxy.url}/artists?after=1",
    )
    return await setup.proxy.stop()


async def test_a_crawler_ignoring_robots_txt_springs_the_trap_and_is_blocked(
    setup: Setup,
) -> None:
    records = await _crawl(setup, obey=False)
    (hit,) = [r for r in records if r["url"]["path"] == TRAP]
    assert hit["optout"]["trap"] == "hit"
    assert hit["optout"]["flagged"] == ["trap"]
    assert hit["event"]["action"] == "block"
    after = _by_query(records, "after=1")
    assert after["optout"]["rule"] == "block-flagged"
    assert after["http"]["response"]["status_code"] == 403


async def test_a_crawler_obeying_robots_txt_never_touches_the_trap(setup: Setup) -> None:
    records = await _crawl(setup, obey=True)
    robots = [r for r in records if r["url"]["path"] == "/robots.txt"]
    assert robots, "the crawler read robots.txt"
    assert all(r["url"]["path"] != TRAP for r in records)
    assert {r["url"]["path"] for r in records} >= {"/", "/releases", "/releases/1", "/artists"}
    assert all("flagged" not in r["optout"] for r in records)
    assert _by_query(records, "after=1")["http"]["response"]["status_code"] == 200


async def test_httpx_with_a_chrome_ua_is_a_mismatch_curl_cffi_firefox_is_not(setup: Setup) -> None:
    url = f"{setup.https}/?c="
    await _python(
        "import sys, httpx\n"
        "httpx.get(sys.argv[1] + 'httpx', verify=False,\n"
        "          headers={'User-Agent': sys.argv[2], 'Host': 'label.test'})",
        url,
        CHROME_UA,
    )
    await _python(
        "import sys; from curl_cffi import requests\n"
        "requests.get(sys.argv[1] + 'firefox', impersonate='firefox144', verify=False,\n"
        "             headers={'Host': 'label.test'})",
        url,
    )
    records = await setup.proxy.stop()
    httpx, firefox = _by_query(records, "c=httpx"), _by_query(records, "c=firefox")
    assert httpx["optout"]["client_family"] == "python"
    assert "ua-tls-mismatch" in httpx["optout"]["signals_seen"]
    assert firefox["optout"]["client_family"] == "firefox"
    assert "Firefox/144" in firefox["user_agent"]["original"]
    assert "ua-tls-mismatch" not in firefox["optout"].get("signals_seen", [])
