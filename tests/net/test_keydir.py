"""KeyDirectory against a loopback aiohttp server: limits, caching and SSRF refusals."""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from proxy.identity.webbotauth import jwk_thumbprint
from proxy.net import keydir
from proxy.net.keydir import WELL_KNOWN, KeyDirectory, KeyDirectoryError, is_public

JWK = {"kty": "OKP", "crv": "Ed25519", "x": "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs"}
KEYID = "poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U"
MEDIA = "application/http-message-signatures-directory+json"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def directory(
    body: object = None, content_type: str = MEDIA, headers: dict[str, str] | None = None
) -> web.Response:
    text = json.dumps({"keys": [JWK]} if body is None else body)
    return web.Response(text=text, headers={"Content-Type": content_type, **(headers or {})})


@dataclass
class Site:
    """A loopback directory server whose answer each test sets."""

    url: str
    hits: list[str] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    handler: Handler | None = None


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    async def serve(request: web.Request) -> web.StreamResponse:
        current.hits.append(f"{request.host} {request.path}")
        current.arrived.set()
        return await current.handler(request) if current.handler else directory()

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", serve)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    current = Site(f"http://127.0.0.1:{server.port}")
    yield current
    current.release.set()
    await server.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def kd(clock: FakeClock) -> KeyDirectory:
    return KeyDirectory(allow_insecure_for_tests=True, timeout=0.5, clock=clock)


async def test_good_directory(site: Site, kd: KeyDirectory) -> None:
    keys = await kd.keys(site.url)
    assert list(keys) == [KEYID] == [jwk_thumbprint(JWK)]
    assert site.hits == [f"{site.url.removeprefix('http://')} {WELL_KNOWN}"]


async def test_plain_json_and_a_charset_are_accepted(site: Site, kd: KeyDirectory) -> None:
    async def plain(request: web.Request) -> web.Response:
        return directory(content_type="application/json; charset=utf-8")

    site.handler = plain
    assert list(await kd.keys(site.url + "/")) == [KEYID]


def respond(make: Callable[[], web.StreamResponse]) -> Handler:
    """A handler answering with a fresh response each time (a response is sent only once)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        return make()

    return handler


def gzipped() -> web.Response:
    """Compressed despite Accept-Encoding: identity; it must not be inflated."""
    body = gzip.compress(json.dumps({"keys": [JWK]}).encode())
    return web.Response(body=body, headers={"Content-Type": MEDIA, "Content-Encoding": "gzip"})


def status(code: int, **headers: str) -> Callable[[], web.Response]:
    return lambda: web.Response(status=code, headers=headers)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (status(302, Location="/elsewhere"), "redirect refused (status 302)"),
        (status(404), "status 404"),
        (lambda: directory(content_type="text/html"), "content type 'text/html'"),
        (lambda: web.Response(body=b"x" * 70_000, content_type=MEDIA), "larger than 65536 bytes"),
        (lambda: web.Response(text="{", content_type=MEDIA), "malformed directory"),
        (gzipped, "malformed directory"),
        (lambda: directory({"keys": [JWK] * 40}), "malformed directory: too many keys: 40 > 32"),
        (lambda: directory({"keys": [{**JWK, "x": "short"}]}), "malformed directory: key 0"),
    ],
    ids=["redirect", "404", "content-type", "oversize", "json", "gzip", "key-count", "bad-key"],
)
async def test_bad_directory_is_refused(
    site: Site, make: Callable[[], web.StreamResponse], message: str
) -> None:
    site.handler = respond(make)
    with pytest.raises(KeyDirectoryError, match=re.escape(message)):
        await KeyDirectory(allow_insecure_for_tests=True).keys(site.url)
    assert len(site.hits) == 1  # the redirect was not followed


async def test_streamed_oversize_body_is_cut_off(site: Site, kd: KeyDirectory) -> None:
    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": MEDIA})
        await response.prepare(request)
        for _ in range(100):
            await response.write(b" " * 1024)
        return response

    site.handler = stream
    with pytest.raises(KeyDirectoryError, match="larger than 65536 bytes"):
        await kd.keys(site.url)


async def test_slow_directory_times_out(site: Site) -> None:
    async def slow(request: web.Request) -> web.Response:
        await site.release.wait()
        return directory()

    site.handler = slow
    with pytest.raises(KeyDirectoryError, match="timed out after 0.2 s"):
        await KeyDirectory(allow_insecure_for_tests=True, timeout=0.2).keys(site.url)


async def test_cache_hit_and_concurrent_calls_fetch_once(site: Site, kd: KeyDirectory) -> None:
    results = await asyncio.gather(*(kd.keys(site.url) for _ in range(5)))
    assert await kd.keys(site.url) == results[0]
    assert len(site.hits) == 1


async def test_negative_cache_then_retry(site: Site, kd: KeyDirectory, clock: FakeClock) -> None:
    site.handler = respond(status(503))
    for _ in range(2):
        with pytest.raises(KeyDirectoryError, match="status 503"):
            await kd.keys(site.url)
    assert len(site.hits) == 1
    site.handler = None
    clock.now += 301
    assert list(await kd.keys(site.url)) == [KEYID]
    assert len(site.hits) == 2


@pytest.mark.parametrize(
    ("cache_control", "fresh_for"),
    [(None, 3600), ("public, max-age=120", 120), ("max-age=5", 60), ("max-age=9999999", 86400)],
)
async def test_max_age_within_bounds(
    site: Site, kd: KeyDirectory, clock: FakeClock, cache_control: str | None, fresh_for: int
) -> None:
    headers = {"Cache-Control": cache_control} if cache_control else {}
    site.handler = respond(lambda: directory(headers=headers))
    await kd.keys(site.url)
    clock.now += fresh_for - 1
    await kd.keys(site.url)
    assert len(site.hits) == 1
    clock.now += 2
    await kd.keys(site.url)
    assert len(site.hits) == 2


async def test_the_cache_is_bounded(site: Site, clock: FakeClock) -> None:
    kd = KeyDirectory(allow_insecure_for_tests=True, max_entries=1, clock=clock)
    await kd.keys(site.url)
    await kd.keys(site.url.replace("127.0.0.1", "localhost"))
    await kd.keys(site.url)
    assert len(site.hits) == 3


async def test_connection_goes_to_the_checked_address(site: Site, kd: KeyDirectory) -> None:
    """The host name is resolved once, by us; aiohttp connects to that address."""
    resolved: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        resolved.append(host)
        return ["127.0.0.1"]

    port = site.url.rsplit(":", 1)[1]
    kd = KeyDirectory(allow_insecure_for_tests=True, resolve=resolve)
    assert list(await kd.keys(f"http://keys.invalid:{port}")) == [KEYID]
    assert resolved == ["keys.invalid"]
    assert site.hits == [f"keys.invalid:{port} {WELL_KNOWN}"]


async def test_a_finished_fetch_does_not_unregister_a_newer_one(kd: KeyDirectory) -> None:
    old, new = asyncio.ensure_future(asyncio.sleep(0)), asyncio.ensure_future(asyncio.sleep(0))
    kd._inflight["https://a.test"] = new
    kd._done("https://a.test", old)
    assert kd._inflight["https://a.test"] is new
    await asyncio.gather(old, new)


async def test_close_cancels_fetches_in_flight(site: Site, kd: KeyDirectory) -> None:
    async def slow(request: web.Request) -> web.Response:
        await site.release.wait()
        return directory()

    site.handler = slow
    waiter = asyncio.ensure_future(kd.keys(site.url))
    await asyncio.wait_for(site.arrived.wait(), 5)
    await kd.close()
    with pytest.raises(asyncio.CancelledError):
        await waiter


async def test_connection_failure_is_a_key_directory_error(kd: KeyDirectory) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(KeyDirectoryError, match="ClientConnectorError"):
        await kd.keys(f"http://127.0.0.1:{port}")


async def test_the_pinned_resolver_answers_only_for_its_host() -> None:
    resolver = keydir._PinnedResolver("a.test", ["192.0.2.1", "2001:db8::1"])
    answers = await resolver.resolve("a.test", 443)
    assert [(a["host"], a["family"]) for a in answers] == [
        ("192.0.2.1", socket.AF_INET),
        ("2001:db8::1", socket.AF_INET6),
    ]
    with pytest.raises(OSError, match="pinned resolver asked for b.test"):
        await resolver.resolve("b.test", 443)
    await resolver.close()


# Real mode: refusals before any connection ---------------------------------------------


@pytest.fixture
def no_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a connection was attempted")

    monkeypatch.setattr(keydir.aiohttp, "ClientSession", refuse)


@pytest.mark.usefixtures("no_connections")
@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://127.0.0.1", "refusing non-public address 127.0.0.1"),
        ("https://localhost:8443", "refusing non-public address"),
        ("https://[::1]", "refusing non-public address ::1"),
        ("https://[::ffff:10.0.0.1]", "refusing non-public address ::ffff:10.0.0.1"),
        ("https://169.254.169.254", "refusing non-public address 169.254.169.254"),
        ("http://example.com", "only https directories are fetched"),
        ("ftp://example.com", "only https directories are fetched"),
        ("https://example.com/keys", "is not an origin"),
        ("https://u:p@example.com", "has no host, or has user info"),
        ("https://[::1", "is not a URL"),
    ],
)
async def test_real_mode_refuses(url: str, message: str) -> None:
    with pytest.raises(KeyDirectoryError, match=re.escape(message)):
        await KeyDirectory().keys(url)


@pytest.mark.usefixtures("no_connections")
async def test_every_resolved_address_is_checked() -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return ["93.184.215.14", "10.1.2.3"] if host == "mixed.test" else []

    kd = KeyDirectory(resolve=resolve)
    with pytest.raises(KeyDirectoryError, match="refusing non-public address 10.1.2.3"):
        await kd.keys("https://mixed.test")
    with pytest.raises(KeyDirectoryError, match="empty.test has no address"):
        await kd.keys("https://empty.test")


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:4700::1", True),
        ("10.0.0.1", False),
        ("100.64.0.1", False),
        ("192.168.1.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("fe80::1%eth0", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),
        ("2002:0a00:0001::1", False),  # 6to4 around 10.0.0.1
        ("64:ff9b::a00:1", False),  # NAT64 around 10.0.0.1
        ("64:ff9b::5db8:d70e", True),
        ("not an address", False),
    ],
)
def test_is_public(address: str, public: bool) -> None:
    assert is_public(address) is public
