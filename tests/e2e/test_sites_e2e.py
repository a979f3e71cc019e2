"""End-to-end: several sites by Host, never an open proxy, and TLS with the sites' certificates.

Two real upstreams and the real proxy on loopback; rules/sites.yaml routes
a.test to one and *.b.test to the other, whose own policy blocks an agent that
a.test allows. TLS uses certificates from a CA made by the test, so the only
certificates that can verify are the sites' own.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from harness import ROOT, Proxy, Upstream, make_app, start_proxy
from tlscerts import Authority, fingerprint, make_ca, write_leaf

DUCK = "Mozilla/5.0 (compatible; DuckAssistBot/1.1; +http://duckduckgo.com/duckassistbot.html)"
CLOSE = b"Connection: close\r\n\r\n"
BLOCK_DUCK = "  - name: block-duckassist\n    agent: DuckAssistBot\n    action: block\n"


@dataclass
class Setup:
    proxy: Proxy
    a: Upstream
    b: Upstream
    ca: Authority
    tmp: Path
    prints: dict[str, str]  # site → its certificate's fingerprint


async def _serve(state: Upstream) -> web.AppRunner:
    runner = web.AppRunner(make_app(state))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    return runner


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rules(tmp: Path, a: Upstream, b: Upstream, ca: Authority) -> tuple[Path, dict[str, str]]:
    rules = tmp / "rules"
    shutil.copytree(ROOT / "rules", rules)
    policy = (rules / "policy.yaml").read_text()
    (rules / "policy-b.yaml").write_text(policy.replace("rules:\n", "rules:\n" + BLOCK_DUCK, 1))
    prints = {
        "a": write_leaf(ca, tmp / "certs", "a", ["a.test", "www.a.test"]),
        "b": write_leaf(ca, tmp / "certs", "b", ["*.b.test"]),
    }
    (rules / "sites.yaml").write_text(
        "sites:\n"
        f"  - hosts: [a.test, www.a.test]\n    upstream: {a.url}\n"
        f"    tls: {{cert: {tmp}/certs/a.pem, key: {tmp}/certs/a.key}}\n"
        f"  - hosts: ['*.b.test']\n    upstream: {b.url}\n    policy: policy-b.yaml\n"
        f"    tls: {{cert: {tmp}/certs/b.pem, key: {tmp}/certs/b.key}}\n"
    )
    return rules, prints


@pytest.fixture
async def sites(tmp_path: Path) -> AsyncIterator[Setup]:
    a, b = Upstream(), Upstream()
    runners = [await _serve(a), await _serve(b)]
    ca = make_ca()
    rules, prints = _rules(tmp_path, a, b, ca)
    tls_at = f"127.0.0.1:{_free_port()}"
    proxy = await start_proxy("", tmp_path, "--tls", tls_at, rules=rules)
    yield Setup(proxy, a, b, ca, tmp_path, prints)
    if proxy.process.returncode is None:
        proxy.process.kill()
        await proxy.process.wait()
    for runner in runners:
        await runner.cleanup()


async def _get(proxy: Proxy, host: str, path: str = "/host", ua: str = "") -> tuple[int, str]:
    headers = {"Host": host, **({"User-Agent": ua} if ua else {})}
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{proxy.url}{path}", headers=headers) as response,
    ):
        return response.status, await response.text()


async def _raw(proxy: Proxy, data: bytes, at: str | None = None) -> bytes:
    """`data` sent to the plain listener, or to the listener `at` (HOST:PORT)."""
    host, port = (at or proxy.url.removeprefix("http://")).rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(data)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)  # every request says Connection: close
    writer.close()
    return answer


async def test_each_host_goes_to_its_upstream_with_its_host(sites: Setup) -> None:
    assert "https://" + str(sites.proxy.https) in sites.proxy.ready
    assert await _get(sites.proxy, "a.test") == (200, "a.test")
    assert await _get(sites.proxy, "www.a.test:80") == (200, "www.a.test:80")
    assert await _get(sites.proxy, "shop.b.test") == (200, "shop.b.test")
    assert sites.a.requests == ["/host", "/host"]
    assert sites.b.requests == ["/host"]


async def test_each_site_has_its_own_policy(sites: Setup) -> None:
    assert (await _get(sites.proxy, "a.test", "/page", DUCK))[0] == 200
    assert (await _get(sites.proxy, "x.b.test", "/page", DUCK))[0] == 403
    assert sites.b.requests == []
    records = await sites.proxy.stop()
    assert [(r["url"]["domain"], r["optout"]["rule"]) for r in records] == [
        ("a.test", "default"),
        ("x.b.test", "block-duckassist"),
    ]


async def test_an_unknown_host_gets_421_and_reaches_nothing(sites: Setup) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{sites.proxy.url}/host", headers={"Host": "other.example"}) as response,
    ):
        assert response.status == 421
        assert response.headers["tdm-reservation"] == "1"
        assert len(await response.read()) < 100
    assert (await _get(sites.proxy, "b.test"))[0] == 421  # *.b.test is not b.test
    assert sites.a.requests == sites.b.requests == []
    records = await sites.proxy.stop()
    assert [(r["http"]["response"]["status_code"], r["optout"]["rule"]) for r in records] == [
        (421, "sites/unknown-host"),
        (421, "sites/unknown-host"),
    ]


async def test_absolute_form_goes_by_its_authority_and_only_to_our_hosts(sites: Setup) -> None:
    foreign = b"GET http://other.example/host HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"
    assert (await _raw(sites.proxy, foreign)).startswith(b"HTTP/1.1 421 ")
    assert sites.a.requests == sites.b.requests == []
    ours = b"GET http://a.test/host HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n"
    answer = await _raw(sites.proxy, ours)
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert answer.endswith(b"\r\n\r\na.test")
    assert sites.a.requests == ["/host"]  # origin-form, with the authority as Host


async def test_connect_is_refused_and_logged(sites: Setup) -> None:
    answer = await _raw(sites.proxy, b"CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n" + CLOSE)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert sites.a.requests == sites.b.requests == []
    records = await sites.proxy.stop()
    assert [r["http"]["request"]["method"] for r in records] == ["CONNECT"]


async def test_single_site_mode_refuses_absolute_form_and_connect(
    proxy: Proxy, upstream: Upstream
) -> None:
    absolute = b"GET http://other.example/host HTTP/1.1\r\nHost: other.example\r\n" + CLOSE
    assert (await _raw(proxy, absolute)).startswith(b"HTTP/1.1 421 ")
    connect = b"CONNECT other.example:443 HTTP/1.1\r\nHost: other.example:443\r\n" + CLOSE
    assert (await _raw(proxy, connect)).startswith(b"HTTP/1.1 400 ")
    assert upstream.requests == []
    assert (await _get(proxy, "anything.example"))[0] == 200  # any Host, as before


async def test_plain_http_on_the_https_port_is_refused_and_logged(sites: Setup) -> None:
    plain = b"GET /host HTTP/1.1\r\nHost: a.test\r\n" + CLOSE
    answer = await _raw(sites.proxy, plain, at=str(sites.proxy.https))
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert answer.endswith(b"This port is for https: the request was sent in plain HTTP.\n")
    assert (await _raw(sites.proxy, plain)).startswith(b"HTTP/1.1 200 ")  # the plain port
    assert sites.a.requests == ["/host"]
    records = await sites.proxy.stop()
    assert [(r["http"]["response"]["status_code"], r["optout"]["rule"]) for r in records] == [
        (400, "sites/plain-http-on-https-port"),
        (200, "default"),
    ]


def _handshake(address: str, ca: Authority, sni: str | None) -> tuple[str, str | None]:
    """The served certificate's fingerprint and the ALPN protocol chosen."""
    context = ssl.create_default_context(cadata=ca.pem().decode())
    context.check_hostname = sni is not None
    if sni is None:
        context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2", "http/1.1"])
    host, port = address.rsplit(":", 1)
    with (
        socket.create_connection((host, int(port)), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=sni) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        return fingerprint(der), tls.selected_alpn_protocol()


async def test_tls_serves_each_site_its_own_certificate_over_h2(sites: Setup) -> None:
    at = str(sites.proxy.https)
    for sni, site in [("a.test", "a"), ("www.a.test", "a"), ("shop.b.test", "b")]:
        served, alpn = await asyncio.to_thread(_handshake, at, sites.ca, sni)
        assert (served, alpn) == (sites.prints[site], "h2")


async def test_an_h2_request_over_tls_is_routed_with_its_host(sites: Setup) -> None:
    ca_file = sites.tmp / "ca.pem"
    ca_file.write_bytes(sites.ca.pem())
    port = str(sites.proxy.https).rsplit(":", 1)[1]
    curl = await asyncio.create_subprocess_exec(
        *("curl", "-s", "--http2", "--cacert", str(ca_file)),
        *("--resolve", f"shop.b.test:{port}:127.0.0.1", "-w", "\n%{http_version}"),
        f"https://shop.b.test:{port}/host",
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(curl.communicate(), 20)
    assert out.decode().splitlines() == [f"shop.b.test:{port}", "2"]
    assert sites.b.requests == ["/host"]
    assert sites.a.requests == []


@pytest.mark.parametrize("sni", ["other.example", None])
async def test_tls_without_a_site_of_ours_gets_no_certificate(
    sites: Setup, sni: str | None
) -> None:
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await asyncio.to_thread(_handshake, str(sites.proxy.https), sites.ca, sni)


async def test_the_plain_listener_never_answers_tls(sites: Setup) -> None:
    # Before: mitmproxy answered with a certificate its own CA had just minted.
    plain = sites.proxy.url.removeprefix("http://")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await asyncio.to_thread(_handshake, plain, sites.ca, "a.test")
