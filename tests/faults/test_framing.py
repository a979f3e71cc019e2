"""Strict framing at the edge (issue 15, findings 3, 7): what is not HTTP/1 gets a 400.

A header that one origin reads differently from the proxy is how a request is
smuggled past the rules: each such head is answered 400 by the proxy itself,
logged, and nothing reaches the upstream. Trailers, which are valid HTTP, get
through (dropped) on requests and responses; interim responses are in test_interim.py.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from e2e.harness import Proxy, start_proxy
from faulty import Faulty, kill, raw_exchange
from scripted import Step, scripted

GPTBOT = b"Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)"


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


class _Recording(BaseHTTPRequestHandler):
    """Python's http.server as origin: it takes a bare CR for a line end."""

    seen: list[tuple[str, str]] = []

    def _answer(self) -> None:
        self.seen.append((self.command, self.path))
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def origin() -> Iterator[tuple[str, list[tuple[str, str]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recording)
    _Recording.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Recording.seen
    server.shutdown()
    server.server_close()


@pytest.fixture
async def behind_http_server(
    origin: tuple[str, list[tuple[str, str]]], tmp_path: Path
) -> AsyncIterator[Proxy]:
    running = await start_proxy(origin[0], tmp_path)
    yield running
    await kill(running)


def _hidden_request() -> bytes:
    body = b"GET /private/x HTTP/1.1\r\nHost: label.example\r\nUser-Agent: GPTBot/1.2\r\n"
    body += b"X: " + b"a" * (91 - len(body) - 7) + b"\r\n\r\n"
    assert len(body) == 91
    return body


async def test_bare_cr_cannot_smuggle_a_request_past_the_rules(
    behind_http_server: Proxy, origin: tuple[str, list[tuple[str, str]]]
) -> None:
    head = (
        b"POST /music/a.html HTTP/1.1\r\nHost: label.example\r\n"
        b"User-Agent: Mozilla/5.0\rContent-Length: 0\r\n"
        b"Content-Length: 91\r\nConnection: close\r\n\r\n"
    )
    answer = await raw_exchange(behind_http_server.url, head + _hidden_request())
    assert status_of(answer) == 400
    assert b"tdm-reservation: 1" in answer
    (record,) = await behind_http_server.stop()
    assert origin[1] == []  # neither the POST nor the hidden GET reached the origin
    assert record["http"]["response"]["status_code"] == 400
    assert record["error"]["message"] == "malformed request head"
    assert record["optout"]["outcome"] == "refused"
    assert (record["http"]["request"]["method"], record["url"]["path"]) == ("POST", "/music/a.html")
    assert "tdm-reservation" in record["optout"]["signals"]


BAD_HEADS = {
    "bare CR": b"X-A: a\rb\r\n",
    "NUL": b"X-A: a\x00b\r\n",
    "ESC": b"X-A: a\x1bb\r\n",
    "DEL": b"X-A: a\x7fb\r\n",
    "other control byte": b"X-A: a\x01b\r\n",
    "obs-fold": b"X-A: a\r\n folded\r\n",
    "space before the colon": b"X-A : a\r\n",
    "bad name byte": b"X(A: a\r\n",
    "8-bit name": b"X\xe9A: a\r\n",
    "no colon": b"X-A a\r\n",
    "empty name": b": a\r\n",
}


@pytest.mark.parametrize("field", list(BAD_HEADS.values()), ids=list(BAD_HEADS))
async def test_malformed_header_is_400_logged_and_not_forwarded(
    proxy: Proxy, upstream: Faulty, field: bytes
) -> None:
    head = b"GET /fine HTTP/1.1\r\nHost: label.example\r\nUser-Agent: " + GPTBOT + b"\r\n"
    answer = await raw_exchange(proxy.url, head + field + b"Connection: close\r\n\r\n")
    assert status_of(answer) == 400
    (record,) = await proxy.stop()
    assert upstream.requests == []
    assert record["http"]["response"]["status_code"] == 400
    assert record["optout"]["agent"] == "GPTBot"  # what could be read of it
    assert record["url"]["path"] == "/fine"


BAD_LINES = {
    "space in method": b"GE T / HTTP/1.1\r\nHost: x\r\n\r\n",
    "HTTP/0.9": b"GET /\r\n",
    "TLS on the plain port": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    "tab in target": b"GET /a\tb HTTP/1.1\r\nHost: x\r\n\r\n",
    "bare CR in the request line": b"GET / HTTP/1.1\rX: y\r\nHost: x\r\n\r\n",
}


@pytest.mark.parametrize("data", list(BAD_LINES.values()), ids=list(BAD_LINES))
async def test_malformed_request_line_is_400_at_once_and_logged(
    proxy: Proxy, upstream: Faulty, data: bytes
) -> None:
    answer = await raw_exchange(proxy.url, data, seconds=5)  # no waiting for a head timeout
    assert status_of(answer) == 400
    (record,) = await proxy.stop()
    assert upstream.requests == []
    assert record["http"]["response"]["status_code"] == 400
    assert record["optout"]["outcome"] == "refused"


OBS_TEXT = b"X-A: caf\xe9\r\n"  # nginx 1.22 accepts 8-bit bytes in a value: so do we


@pytest.mark.parametrize(
    "head",
    [
        b"GET /echo HTTP/1.1\r\nHost: x\r\n" + OBS_TEXT + b"Connection: close\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nHost: x\r\nX-A: a\tb\r\nConnection: close\r\n\r\n",
        b"GET /echo HTTP/1.1\nHost: x\nConnection: close\n\n",  # bare LF, as nginx
        b"\r\nGET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ],
    ids=["obs-text value", "HTAB in value", "bare LF", "leading empty line"],
)
async def test_well_framed_oddities_still_pass(proxy: Proxy, head: bytes) -> None:
    answer = await raw_exchange(proxy.url, head)
    assert status_of(answer) == 200


async def test_chunked_request_with_trailers_is_answered_and_logged(
    proxy: Proxy, upstream: Faulty
) -> None:
    head = (
        b"POST /fine HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    answer = await raw_exchange(proxy.url, head + b"3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n", 10)
    assert status_of(answer) == 200
    (record,) = await proxy.stop()
    assert record["http"]["response"]["status_code"] == 200
    assert upstream.requests == ["/fine"]


def _chunked(content_type: bytes, body: bytes, size: int = 4096) -> bytes:
    """A chunked 200 ending in trailer fields (finding 7, response side)."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: " + content_type + b"\r\n"
    head += b"Transfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n"
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size])
        for i in range(0, len(body), size)
    )
    return head + chunks + b"0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n"


TRAILED = {
    "/text": (b"text/plain", b"t" * 10_000),
    "/page.html": (b"text/html", b"<html><head></head><body>" + b"p" * 10_000 + b"</body></html>"),
    "/song.mp3": (b"audio/mpeg", bytes(range(256)) * 12_000),  # 3 MB: streamed
}


def _dechunk(body: bytes) -> bytes:
    out, rest = b"", body
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return out
        out, rest = out + rest[:size], rest[size + 2 :]


@pytest.mark.parametrize("path", list(TRAILED))
async def test_response_with_trailers_reaches_the_client_whole(path: str, tmp_path: Path) -> None:
    answers: dict[str, list[Step]] = {p: [_chunked(*t)] for p, t in TRAILED.items()}
    async with scripted(answers) as origin:
        proxy = await start_proxy(origin.url, tmp_path)
        try:
            request = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
            answer = await raw_exchange(proxy.url, request, seconds=15)
            (record,) = await proxy.stop()
        finally:
            await kill(proxy)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert status_of(head) == 200
    sent = TRAILED[path][1]
    received = _dechunk(body) if b"transfer-encoding: chunked" in head.lower() else body
    if path.endswith(".html"):  # the meta tags are added; the page is otherwise whole
        assert received.startswith(b"<html><head><meta ")
        assert received.endswith(sent.removeprefix(b"<html><head>"))
    else:
        assert received == sent
    assert b"x-checksum: abc" not in body.lower()  # the trailers are dropped
    assert record["http"]["response"]["status_code"] == 200
