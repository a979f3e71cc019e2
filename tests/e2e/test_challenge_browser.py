"""End to end: `action: challenge` against a real headless Chromium and real scripted clients.

The upstream is the demo label site; the proxy runs the shipped rules with the
example challenge policy (rules/examples/challenge.yaml), matching loopback by
path instead of by datacenter network. Chromium is driven over the DevTools
protocol (aiohttp's WebSocket client), and its own network log is what the
assertions read.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
import requests
from harness import ROOT, Proxy, start_proxy
from tlscerts import make_ca, write_leaf

from proxy.decision.challenge import ANSWER_PATH, solve
from proxy.demo.site import bound_port, serve

CHROMIUM = Path("/usr/bin/chromium")
RELEASE = "/releases/aurora-ep"
MP3 = "/media/aurora-preview.mp3"
COVER = "/media/aurora-cover.png"
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed")


def _policy(difficulty: int, nojs: bool) -> str:
    text = (ROOT / "rules" / "examples" / "challenge.yaml").read_text()
    text = text.replace("    network: datacenter\n", "    path: /\n")
    text = text.replace("difficulty: 16", f"difficulty: {difficulty}")
    text = text.replace("nojs_delay: 5", "nojs_delay: 1")
    if not nojs:
        text = text.replace("    nojs: true\n    nojs_delay: 1\n", "")
    assert "path: /\n" in text
    assert f"difficulty: {difficulty}" in text
    return text


@dataclass
class Setup:
    proxy: Proxy
    tmp: Path


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Compiled network ranges, shared by this module's proxies: each start reads them back."""
    return tmp_path_factory.mktemp("network-cache")


async def _start(
    tmp: Path, cache: Path, difficulty: int = 12, nojs: bool = True, tls: bool = False
) -> AsyncIterator[Setup]:
    site = await serve("127.0.0.1", 0)
    rules = tmp / "rules"
    shutil.copytree(ROOT / "rules", rules)
    (rules / "policy.yaml").write_text(_policy(difficulty, nojs))
    upstream, args = f"http://127.0.0.1:{bound_port(site)}", []
    if tls:  # label.test over https, and over plain http on the same proxy
        write_leaf(make_ca(), tmp / "certs", "label", ["label.test"])
        (rules / "sites.yaml").write_text(
            f"sites:\n  - hosts: [label.test]\n    upstream: {upstream}\n    default: true\n"
            f"    tls: {{cert: {tmp}/certs/label.pem, key: {tmp}/certs/label.key}}\n"
        )
        upstream, args = "", ["--tls", f"127.0.0.1:{_free_port()}"]
    proxy = await start_proxy(upstream, tmp, *args, rules=rules, env={"OPTOUT_CACHE": str(cache)})
    try:
        yield Setup(proxy, tmp)
    finally:
        if proxy.process.returncode is None:
            proxy.process.kill()
            await proxy.process.wait()
        await site.cleanup()


@pytest.fixture
async def setup(tmp_path: Path, cache: Path) -> AsyncIterator[Setup]:
    async for running in _start(tmp_path, cache):
        yield running


@pytest.fixture
async def tls(tmp_path: Path, cache: Path) -> AsyncIterator[Setup]:
    async for running in _start(tmp_path, cache, tls=True):
        yield running


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def strict(tmp_path: Path, cache: Path) -> AsyncIterator[Setup]:
    """A rule without the no-JavaScript path."""
    async for running in _start(tmp_path, cache, nojs=False):
        yield running


@dataclass
class Browser:
    """One headless Chromium page over CDP; `responses` is its network log (url, status)."""

    ws: aiohttp.ClientWebSocketResponse
    session: str = ""
    responses: list[tuple[str, int]] = field(default_factory=list)
    _next: int = 0
    _waiting: dict[int, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            message["sessionId"] = self.session
        future = self._waiting[self._next] = asyncio.get_running_loop().create_future()
        await self.ws.send_str(json.dumps(message))
        return await asyncio.wait_for(future, 30)

    async def read(self) -> None:
        async for message in self.ws:
            data = json.loads(message.data)
            if "id" in data and data["id"] in self._waiting:
                self._waiting.pop(data["id"]).set_result(data.get("result", data))
            elif data.get("method") == "Network.responseReceived":
                response = data["params"]["response"]
                self.responses.append((response["url"], response["status"]))
            elif data.get("method") == "Network.requestWillBeSent":
                redirect = data["params"].get("redirectResponse")  # a 3xx has no event of its own
                if redirect:
                    self.responses.append((redirect["url"], redirect["status"]))

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, awaitPromise=True)
        return result.get("result", {}).get("value")

    async def until(self, expression: str, seconds: float = 90) -> Any:
        for _ in range(int(seconds * 10)):
            value = await self.evaluate(expression)
            if value:
                return value
            await asyncio.sleep(0.1)
        raise AssertionError(f"never true: {expression}; network log {self.responses}")


async def _browser(tmp: Path, scripts: bool = True, *flags: str) -> AsyncIterator[Browser]:
    process = await asyncio.create_subprocess_exec(
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--autoplay-policy=no-user-gesture-required", "--remote-debugging-port=0",
        f"--user-data-dir={tmp / 'profile'}", *flags, "about:blank",
        stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert process.stderr is not None
    url = ""
    while not url:
        line = (await asyncio.wait_for(process.stderr.readline(), 60)).decode()
        assert line, "Chromium exited before it listened"
        found = re.search(r"DevTools listening on (ws://\S+)", line)
        url = found.group(1) if found else ""
    async with aiohttp.ClientSession() as client, client.ws_connect(url, max_msg_size=0) as ws:
        browser = Browser(ws)
        reader = asyncio.create_task(browser.read())
        target = await browser.call("Target.createTarget", url="about:blank")
        attached = await browser.call(
            "Target.attachToTarget", targetId=target["targetId"], flatten=True
        )
        browser.session = attached["sessionId"]
        await browser.call("Network.enable")
        await browser.call("Page.enable")
        if not scripts:
            await browser.call("Emulation.setScriptExecutionDisabled", value=True)
        try:
            yield browser
        finally:
            reader.cancel()
            process.kill()
            await process.wait()


def _paths(browser: Browser) -> list[tuple[str, int]]:
    return [(urlsplit(u).path, s) for u, s in browser.responses if u.startswith("http")]


@needs_chromium
async def test_chromium_solves_once_then_page_audio_and_cover_load(setup: Setup) -> None:
    async for browser in _browser(setup.tmp):
        await browser.call("Page.navigate", url=setup.proxy.url + RELEASE)
        assert await browser.until("document.title.startsWith('Aurora EP')")
        # The MP3 preview and the cover, as the page asks for them.
        assert await browser.until("document.querySelector('img.cover').naturalWidth") == 300
        played = "document.querySelector('audio').play().then(() => true, (e) => String(e))"
        assert await browser.evaluate(played) is True
        await browser.until("document.querySelector('audio').currentTime > 0", 30)
        log = _paths(browser)
    records = await setup.proxy.stop()
    # Exactly one round trip: the page challenged once, one answer, then the page.
    assert log[0] == (RELEASE, 403)
    assert [s for p, s in log if p == ANSWER_PATH] == [303]
    assert [s for p, s in log if p == RELEASE] == [403, 200]
    assert (COVER, 200) in log
    assert "/static/site.css" in [p for p, _ in log]
    assert {s for p, s in log if p == MP3} <= {200, 206}
    assert any(p == MP3 for p, _ in log)
    assert all(s != 403 for p, s in log[1:]), log  # /favicon.ico: the demo site's own 404
    outcomes = [(r["url"]["path"], r["optout"].get("outcome")) for r in records]
    assert outcomes[0] == (RELEASE, "challenged")
    answer = next(r for r in records if r["url"]["path"] == ANSWER_PATH)
    assert answer["optout"]["outcome"] == "challenge-passed"
    assert answer["optout"]["challenge"]["reason"] == "solved"
    # The answer names the challenge it solved: the id the page was issued with.
    assert answer["optout"]["challenge"]["id"] == records[0]["optout"]["challenge"]["id"]
    passed = [r for r in records if r["url"]["path"] in (RELEASE, MP3, COVER)][1:]
    assert {r["optout"]["outcome"] for r in passed} == {"challenge-passed"}
    assert {r["optout"]["challenge"]["reason"] for r in passed} == {"cookie"}


@needs_chromium
async def test_without_javascript_the_nojs_path_passes(setup: Setup) -> None:
    async for browser in _browser(setup.tmp, scripts=False):
        await browser.call("Page.navigate", url=setup.proxy.url + RELEASE)
        html = await browser.until(
            "document.title.startsWith('Checking') && document.documentElement.outerHTML"
        )
        assert await browser.until("document.title.startsWith('Aurora EP')", 30)
        log = _paths(browser)
    # The page carries every reservation signal, in its head and in words.
    assert '<meta name="tdm-reservation" content="1">' in html
    assert "noai" in re.search(r'<meta name="robots" content="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    assert "https://label.example/licensing" in html
    assert "licensing@label.example" in html
    assert "Article 4(3)" in html
    assert "checking your browser" in html.lower()
    page = setup.proxy.url + "/press/"
    response = await asyncio.to_thread(requests.get, page, headers={"accept": "text/html"})
    assert response.status_code == 403
    assert response.headers["tdm-reservation"] == "1"
    assert response.headers["x-robots-tag"] == "noai, noimageai"
    assert 'rel="license"' in response.headers["link"]
    assert response.headers["cache-control"] == "no-store"
    records = await setup.proxy.stop()
    assert [s for p, s in log if p == RELEASE] == [403, 200]
    answer = next(r for r in records if r["url"]["path"] == ANSWER_PATH)
    assert answer["optout"]["challenge"]["reason"] == "nojs"


@needs_chromium
async def test_over_https_the_cookie_is_secure_and_plain_http_falls_back(tls: Setup) -> None:
    assert tls.proxy.https is not None
    port, plain = tls.proxy.https.rsplit(":", 1)[1], tls.proxy.url.rsplit(":", 1)[1]
    flags = ("--ignore-certificate-errors", "--host-resolver-rules=MAP label.test 127.0.0.1")
    async for browser in _browser(tls.tmp, True, *flags):
        await browser.call("Page.navigate", url=f"https://label.test:{port}{RELEASE}")
        assert await browser.until("document.title.startsWith('Aurora EP')")
        cookies = (await browser.call("Network.getCookies"))["cookies"]
        # http://label.test is no secure context: no crypto.subtle, so the page waits
        # the no-JavaScript delay and sends the token, and says so.
        await browser.call("Network.clearBrowserCookies")
        await browser.call("Page.navigate", url=f"http://label.test:{plain}{RELEASE}")
        text = await browser.until("document.getElementById('status')?.textContent")
        assert await browser.until("document.title.startsWith('Aurora EP')", 30)
    ours = [c for c in cookies if c["name"] == "optout_pass"]
    assert len(ours) == 1
    assert ours[0]["secure"]
    assert ours[0]["httpOnly"]
    assert ours[0]["sameSite"] == "Lax"
    assert "cannot do the check here" in text
    records = await tls.proxy.stop()
    answers = [r for r in records if r["url"]["path"] == ANSWER_PATH]
    assert [a["optout"]["challenge"]["reason"] for a in answers] == ["solved", "nojs"]
    assert answers[0]["tls"]["version"].startswith("1.")


@needs_chromium
async def test_without_javascript_and_no_nojs_path_nobody_passes(strict: Setup) -> None:
    async for browser in _browser(strict.tmp, scripts=False):
        await browser.call("Page.navigate", url=strict.proxy.url + RELEASE)
        text = await browser.until("document.body && document.body.innerText")
        await asyncio.sleep(3)  # a refresh, if there were one, would have happened by now
        log = _paths(browser)
    assert "needs JavaScript" in text
    assert log == [(RELEASE, 403)]


def _curl(url: str, *args: str) -> tuple[int, str]:
    done = subprocess.run(
        ["curl", "-s", "-L", "-o", "-", "-w", "\n%{http_code}", *args, url],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    body, _, status = done.stdout.rpartition("\n")
    return int(status), body


async def test_scripted_clients_never_get_past(setup: Setup) -> None:
    url = setup.proxy.url + RELEASE
    browser_ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"  # noqa: E501
    status, body = await asyncio.to_thread(_curl, url, "-A", browser_ua, "-H", "Accept: text/html")
    assert status == 403
    assert "checking your browser" in body.lower()
    got = await asyncio.to_thread(requests.get, url, headers={"user-agent": browser_ua})
    assert got.status_code == 403
    assert "Aurora EP" not in got.text
    async with aiohttp.ClientSession() as client, client.get(url) as response:
        assert response.status == 403
        assert "Aurora EP" not in await response.text()
    # The media a scraper would want: 403 with the reservation, never the file.
    media = await asyncio.to_thread(requests.get, setup.proxy.url + MP3)
    assert media.status_code == 403
    assert media.headers["tdm-reservation"] == "1"
    assert media.headers["content-type"].startswith("text/plain")
    out = setup.tmp / "scrapy.jsonl"
    script = _scrapy_spider(url, out, browser_ua)  # a stealth crawl: a browser's user agent
    await asyncio.to_thread(subprocess.run, [sys.executable, "-c", script], check=True, timeout=90)
    assert [json.loads(line) for line in out.read_text().splitlines()] == [[403, False]]
    records = await setup.proxy.stop()
    assert {r["optout"]["outcome"] for r in records} == {"challenged"}
    # requests and aiohttp ask for */*: they cannot show a page, so they get the plain 403.
    reasons = [r["optout"]["challenge"]["reason"] for r in records]
    assert reasons == ["none", "not-a-page", "not-a-page", "not-a-page", "none"]
    assert records[4]["user_agent"]["original"] == browser_ua


def _scrapy_spider(url: str, out: Path, user_agent: str) -> str:
    return f"""
import json, scrapy
from scrapy.crawler import CrawlerProcess
class Spider(scrapy.Spider):
    name = "s"
    start_urls = [{url!r}]
    custom_settings = {{"HTTPERROR_ALLOW_ALL": True, "ROBOTSTXT_OBEY": False, "LOG_LEVEL": "ERROR",
                        "TELNETCONSOLE_ENABLED": False, "USER_AGENT": {user_agent!r}}}
    def parse(self, response):
        with open({str(out)!r}, "a") as f:
            f.write(json.dumps([response.status, "Aurora EP" in response.text]) + "\\n")
process = CrawlerProcess()
process.crawl(Spider)
process.start()
"""


async def test_forged_and_replayed_answers_and_cookies_are_refused_and_logged(
    setup: Setup,
) -> None:
    url = setup.proxy.url + RELEASE
    ua = {"user-agent": "Mozilla/5.0 test", "accept": "text/html"}
    page = await asyncio.to_thread(requests.get, url, headers=ua)
    token = re.search(r'"token": "([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    answer = f"{setup.proxy.url}{ANSWER_PATH}?t={token}&n={solve(token, 12)}&next={RELEASE}"
    first = await asyncio.to_thread(requests.get, answer, headers=ua, allow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == RELEASE
    cookie = first.cookies["optout_pass"]
    replay = await asyncio.to_thread(requests.get, answer, headers=ua, allow_redirects=False)
    assert replay.status_code == 403
    assert "optout_pass" not in replay.cookies
    forged = answer.replace(token, token[:-4] + ("AAAA" if token[-4:] != "AAAA" else "BBBB"))
    refused = await asyncio.to_thread(requests.get, forged, headers=ua, allow_redirects=False)
    assert refused.status_code == 403
    # The cookie passes its own user agent, not another one, and not edited.
    good = await asyncio.to_thread(requests.get, url, headers=ua, cookies={"optout_pass": cookie})
    assert good.status_code == 200
    assert "Aurora EP" in good.text
    other = {**ua, "user-agent": "python-requests/2.32"}
    moved = await asyncio.to_thread(
        requests.get, url, headers=other, cookies={"optout_pass": cookie}
    )
    assert moved.status_code == 403
    edited = cookie.replace("~24~", "~8~", 1)
    assert edited != cookie
    bad = await asyncio.to_thread(requests.get, url, headers=ua, cookies={"optout_pass": edited})
    assert bad.status_code == 403
    assert setup.proxy.admin is not None
    metrics = await asyncio.to_thread(requests.get, setup.proxy.admin + "/metrics")
    for line in (
        'optout_challenges_total{outcome="challenge-failed",reason="answer-replayed"} 1.0',
        'optout_challenges_total{outcome="challenge-passed",reason="solved"} 1.0',
        'optout_challenges_total{outcome="challenge-failed",reason="cookie-forged"} 1.0',
    ):
        assert line in metrics.text
    records = await setup.proxy.stop()
    seen = [
        (r["url"]["path"], r["optout"]["outcome"], r["optout"]["challenge"]["reason"])
        for r in records
    ]
    assert seen == [
        (RELEASE, "challenged", "none"),
        (ANSWER_PATH, "challenge-passed", "solved"),
        (ANSWER_PATH, "challenge-failed", "answer-replayed"),
        (ANSWER_PATH, "challenge-failed", "answer-forged"),
        (RELEASE, "challenge-passed", "cookie"),
        (RELEASE, "challenge-failed", "cookie-other-agent"),
        (RELEASE, "challenge-failed", "cookie-forged"),
    ]
