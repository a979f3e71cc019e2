"""Interim (1xx) responses from the origin (issue 15, finding 8): the final response gets through.

An origin that sent `103 Early Hints` (Node's `writeEarlyHints`) or an unasked
`100 Continue` before its 200 left the client with the 103 alone and the page
lost. The proxy drops interim heads (as nginx does); the client gets the 200,
its body and its reservation headers, and the record says 200. The HTTP/2
side is in test_edge_http2.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e.harness import start_proxy
from faulty import TIMEOUT_ENV, kill, raw_exchange
from scripted import HINTS, PAGE, Step, scripted

INTERIM: dict[str, list[Step]] = {
    "/hints": [HINTS, PAGE],
    "/hints-together": [HINTS + PAGE],
    "/continue": [b"HTTP/1.1 100 Continue\r\n\r\n", PAGE],
    "/several": [b"HTTP/1.1 102 Processing\r\n\r\n", HINTS, HINTS, PAGE],
    "/split": [HINTS[:20], 0.2, HINTS[20:-2], 0.2, HINTS[-2:] + PAGE[:30], 0.2, PAGE[30:]],
    "/lf-only": [b"HTTP/1.1 103 Early Hints\nLink: </a>\n\n", PAGE],
    "/http10-hints": [b"HTTP/1.0 103 Early Hints\r\n\r\n", PAGE],
}


def head_and_body(answer: bytes) -> tuple[bytes, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return head, body


@pytest.mark.parametrize("path", list(INTERIM))
async def test_final_response_follows_the_interim_ones(path: str, tmp_path: Path) -> None:
    async with scripted(INTERIM) as origin:
        proxy = await start_proxy(origin.url, tmp_path)
        try:
            request = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
            answer = await raw_exchange(proxy.url, request, seconds=10)
            head, body = head_and_body(answer)
            assert head.startswith(b"HTTP/1.1 200 OK\r\n"), answer
            assert b"tdm-reservation: 1" in head.lower()
            assert body.endswith(b"page")
            assert b" 10" not in answer.split(b"\r\n", 1)[0]  # no interim status reached it
            (record,) = await proxy.stop()
        finally:
            await kill(proxy)
    assert record["http"]["response"]["status_code"] == 200
    assert origin.requests == [path]


async def test_keep_alive_after_an_interim_response(tmp_path: Path) -> None:
    """The next request on the same connection gets its own answer, not a leftover head."""
    async with scripted(INTERIM) as origin:
        proxy = await start_proxy(origin.url, tmp_path)
        try:
            two = b"GET /hints HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n"
            answer = await raw_exchange(proxy.url, two + b"Connection: close\r\n\r\n", 10)
            records = await proxy.stop()
        finally:
            await kill(proxy)
    assert answer.count(b"HTTP/1.1 200 OK\r\n") == 2
    assert answer.endswith(b"ok")
    assert [r["http"]["response"]["status_code"] for r in records] == [200, 200]
    assert origin.requests == ["/hints", "/next"]


async def test_an_origin_that_sends_only_interim_heads_meets_the_upstream_timeout(
    tmp_path: Path,
) -> None:
    async with scripted({"/stuck": [HINTS, 0.3, HINTS, 0.3, HINTS, 0.3, HINTS, 30.0]}) as origin:
        proxy = await start_proxy(origin.url, tmp_path, env=TIMEOUT_ENV)
        try:
            request = b"GET /stuck HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            answer = await raw_exchange(proxy.url, request, seconds=10)
            (record,) = await proxy.stop()
        finally:
            await kill(proxy)
    assert answer.startswith(b"HTTP/1.1 504 ")
    assert record["http"]["response"]["status_code"] == 504
