"""Issue 15 over HTTP/2: `:path` is normalised as any target, one host per request, head limits.

mitmproxy routes an HTTP/2 request by its `:authority` and forwards its Host
field to an HTTP/1 upstream, so a Host that contradicted `:authority` would let
the rules and the origin each see another host. h2 refused such a request by
closing the connection (PROTOCOL_ERROR) before any hook, so it left no record;
now the Edge addon answers it 400, logged, and nothing reaches the upstream.
A request head over the HTTP/1 limits gets the same 431 or 414 as over HTTP/1.
The real proxy's https listener is spoken to in raw frames: curl will not send both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from faulty import Faulty, kill
from h2client import Setup, h2_exchange, h2_get, start_https
from scripted import HINTS, PAGE, scripted


@pytest.fixture
async def https(upstream: Faulty, tmp_path: Path) -> AsyncIterator[Setup]:
    setup = await start_https(upstream.url, tmp_path)
    yield setup
    await kill(setup.proxy)


async def test_path_is_normalised_and_a_contradicting_host_reaches_nothing(
    https: Setup, upstream: Faulty
) -> None:
    assert await h2_get(https, "/x", "other.example") == 400
    assert await h2_get(https, "/x", "a.test:8443") == 400  # another port is another host
    assert await h2_get(https, "/x", "A.Test.:443") == 200  # the same host, in another form
    assert upstream.requests == ["/x"]
    assert await h2_get(https, "/a/%2e%2e//%70ublic", "a.test") == 200
    assert await h2_get(https, "/b/./c%2fd", None) == 400
    assert upstream.requests == ["/x", "/public"]
    assert b"\r\nhost: a.test\r\n" in upstream.heads[1].lower()
    records = await https.proxy.stop()
    assert [(r["http"]["response"]["status_code"], r["optout"]["rule"]) for r in records] == [
        (400, "edge/conflicting-host"),
        (400, "edge/conflicting-host"),
        (200, "default"),
        (200, "default"),
        (400, "edge/encoded-slash"),
    ]


async def test_two_host_fields_are_refused_and_logged(https: Setup, upstream: Faulty) -> None:
    answer = await h2_exchange(https, "/x", [("host", "a.test"), ("host", "b.test")])
    assert answer.status == 400
    assert upstream.requests == []
    (record,) = await https.proxy.stop()
    assert record["optout"]["rule"] == "edge/duplicate-host"


async def test_a_request_without_any_host_is_still_refused_by_h2(https: Setup) -> None:
    answer = await h2_exchange(https, "/x", drop_authority=True)
    assert answer.status == 0  # the connection is closed (PROTOCOL_ERROR): nothing to route by


@pytest.mark.parametrize(
    ("fields", "path", "status"),
    [
        ([("x-big", "a" * 20_000)], "/x", 431),
        ([("x-a", "a" * 6_000), ("x-b", "b" * 6_000), ("x-c", "c" * 6_000)], "/x", 431),
        ([], "/" + "a" * 9_000, 414),
        ([("x-fine", "a" * 8_000)], "/x", 403),  # judged by the rules: GPTBot is blocked
    ],
    ids=["one big field", "three fields", "long path", "under the limit"],
)
async def test_request_heads_over_the_http1_limits_are_refused(
    https: Setup, upstream: Faulty, fields: list[tuple[str, str]], path: str, status: int
) -> None:
    user_agent = ("user-agent", "Mozilla/5.0 (compatible; GPTBot/1.2)")
    answer = await h2_exchange(https, path, [user_agent, *fields])
    assert answer.status == status
    assert answer.headers[b"tdm-reservation"] == b"1"
    after = await h2_exchange(https, "/after")  # the proxy (and HTTP/2) still serves
    assert after.status == 200
    records = await https.proxy.stop()
    assert records[0]["http"]["response"]["status_code"] == status
    assert records[0]["optout"]["agent"] == "GPTBot"  # what could be read of it
    assert upstream.requests == ["/after"]
    assert "tdm-reservation" in records[0]["optout"]["signals"]


async def test_an_oversized_request_with_a_body_gets_its_answer(
    https: Setup, upstream: Faulty
) -> None:
    answer = await h2_exchange(https, "/x", [("x-big", "a" * 20_000)], body=b"b" * 60_000)
    assert answer.status == 431
    assert upstream.requests == []


async def test_final_response_follows_interim_ones_over_http2(tmp_path: Path) -> None:
    async with scripted({"/hints": [HINTS, HINTS, PAGE]}) as origin:
        setup = await start_https(origin.url, tmp_path)
        try:
            answer = await h2_exchange(setup, "/hints")
            (record,) = await setup.proxy.stop()
        finally:
            await kill(setup.proxy)
    assert answer.status == 200
    assert answer.body.endswith(b"page")
    assert answer.headers[b"tdm-reservation"] == b"1"
    assert record["http"]["response"]["status_code"] == 200
