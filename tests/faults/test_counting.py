"""Every request leaves exactly one record, with the status the client saw (issue 15, finding 11).

Mixed traffic, one request per connection and one after the other, so the
records come in the order of the requests: normal and blocked requests,
malformed heads, HTTP/0.9, TLS on the plain port, trailers, CONNECT, bad
framing, bodies and heads over the limits, an upstream that is down, slow,
silent or breaks framing, interim responses, and HTTP/2. Each record must
carry the status the client got and list the reservation signals the answer
carried: that is the evidence a label shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faulty import closed_port, kill, raw_exchange
from h2client import Setup, h2_exchange, start_https
from scripted import HINTS, PAGE, Step, ok, scripted

BROWSER = b"Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"
GPTBOT = b"Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)"
MAX_BODY = 64 * 1024

ORIGIN: dict[str, list[Step]] = {
    "/slow": [30.0],
    "/clte": [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\n"
    ],
    "/silent": [b""],  # reads the request, answers nothing, closes
    "/garbage": [b"\x00\xffSSH-2.0-nonsense\r\n\r\n"],
    "/hints": [HINTS, PAGE],
    "/trailers": [
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\nX-Checksum: 1\r\n\r\n"
    ],
    "/robots.txt": [ok(b"User-agent: *\nDisallow: /admin/\n")],
}


@dataclass
class Seen:
    """What the client got: a status, and the reservation signals its answer carried."""

    status: int
    signals: set[str]


def signals_of(headers: dict[str, str]) -> set[str]:
    """The reservation signals in an answer's header fields, named as the record names them."""
    found = {name for name in ("tdm-reservation", "tdm-policy", "content-usage") if name in headers}
    if 'rel="license"' in headers.get("link", ""):
        found.add("link-license")
    if "noai" in headers.get("x-robots-tag", ""):
        found.add("x-robots-tag")
    return found


def parse_h1(answer: bytes) -> Seen:
    if not answer:
        return Seen(0, set())  # closed without an answer
    head = answer.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        headers[key] = (headers[key] + ", " if key in headers else "") + value.strip()
    return Seen(int(head[0].split(" ", 2)[1]), signals_of(headers))


def get(path: str, agent: bytes = BROWSER, host: bytes = b"a.test", more: bytes = b"") -> bytes:
    return (
        b"GET "
        + path.encode()
        + b" HTTP/1.1\r\nHost: "
        + host
        + b"\r\nUser-Agent: "
        + agent
        + b"\r\n"
        + more
        + b"Connection: close\r\n\r\n"
    )


def post(path: str, fields: bytes, body: bytes = b"") -> bytes:
    return b"POST " + path.encode() + b" HTTP/1.1\r\nHost: a.test\r\n" + fields + b"\r\n" + body


CHUNKED = b"Transfer-Encoding: chunked\r\n"
HTTP1: list[tuple[str, bytes, int]] = [
    *((f"normal {i}", get(f"/music/{i}.html"), 200) for i in range(12)),
    ("HEAD", get("/music/head.html").replace(b"GET", b"HEAD", 1), 200),
    *((f"blocked {i}", get(f"/music/b{i}.html", GPTBOT), 403) for i in range(10)),
    ("robots.txt", get("/robots.txt", GPTBOT), 200),
    ("malformed line", b"GE T / HTTP/1.1\r\nHost: a.test\r\n\r\n", 400),
    ("tab in target", b"GET /a\tb HTTP/1.1\r\nHost: a.test\r\n\r\n", 400),
    ("HTTP/0.9", b"GET /\r\n", 400),
    ("TLS on the plain port", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),
    ("bare CR", get("/x", more=b"X-A: a\rb\r\n"), 400),
    ("NUL", get("/x", more=b"X-A: a\x00b\r\n"), 400),
    ("obs-fold", get("/x", more=b"X-A: a\r\n b\r\n"), 400),
    (
        "trailers",
        post("/t", CHUNKED + b"Connection: close\r\n", b"3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n"),
        200,
    ),
    ("CONNECT", b"CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n", 400),
    ("bad Content-Length", post("/p", b"Content-Length: abc\r\n"), 400),
    ("two Content-Lengths", post("/p", b"Content-Length: 1\r\nContent-Length: 2\r\n", b"ab"), 400),
    ("CL and TE", post("/p", b"Content-Length: 3\r\n" + CHUNKED, b"0\r\n\r\n"), 400),
    ("unknown TE", post("/p", b"Transfer-Encoding: gzip\r\n"), 400),
    ("bad chunk size", post("/p", CHUNKED, b"zz\r\nabc\r\n0\r\n\r\n"), 400),
    ("413 declared", post("/p", b"Content-Length: %d\r\n" % (MAX_BODY + 1)), 413),
    (
        "413 chunked",
        post("/p", CHUNKED, b"%x\r\n%s\r\n0\r\n\r\n" % (MAX_BODY * 2, b"a" * MAX_BODY * 2)),
        413,
    ),
    ("header over 16 KiB", get("/x", more=b"X-Big: " + b"a" * 20_000 + b"\r\n"), 431),
    ("line over 8 KiB", get("/" + "a" * 9000), 414),
    ("encoded slash", get("/a%2fb"), 400),
    ("two Hosts", get("/x", more=b"Host: b.test\r\n"), 400),
    ("unknown host", get("/x", host=b"nowhere.test"), 421),
    ("upstream down", get("/x", host=b"down.test"), 502),
    ("upstream slow", get("/slow"), 504),
    ("upstream CL and TE", get("/clte"), 502),
    ("upstream silent", get("/silent"), 502),
    ("upstream garbage", get("/garbage"), 502),
    ("interim response", get("/hints"), 200),
    ("response trailers", get("/trailers"), 200),
]
HTTP2: list[tuple[str, str, list[tuple[str, str]], int]] = [
    *((f"h2 normal {i}", f"/music/h{i}.html", [], 200) for i in range(4)),
    ("h2 blocked", "/music/hb.html", [("user-agent", GPTBOT.decode())], 403),
    ("h2 encoded slash", "/a%2fb", [], 400),
    ("h2 interim", "/hints", [], 200),
    ("h2 upstream slow", "/slow", [], 504),
    ("h2 header over 16 KiB", "/x", [("x-big", "a" * 20_000)], 431),
    ("h2 Host contradicting :authority", "/x", [("host", "other.test")], 400),
]


async def test_every_request_leaves_one_record_with_what_the_client_saw(tmp_path: Path) -> None:
    down = f"  - {{hosts: [down.test], upstream: 'http://127.0.0.1:{closed_port()}'}}\n"
    async with scripted(ORIGIN) as origin:
        setup = await start_https(origin.url, tmp_path, down, {"OPTOUT_MAX_BODY": str(MAX_BODY)})
        try:
            sent = await _send_all(setup)
            records = await setup.proxy.stop()
        finally:
            await kill(setup.proxy)
    assert len(sent) >= 60
    assert len(records) == len(sent), _diff(sent, records)
    for (name, seen), record in zip(sent, records, strict=True):
        logged = record["http"].get("response", {}).get("status_code")
        assert (name, logged) == (name, seen.status), record
        assert (name, set(record["optout"]["signals"])) == (name, seen.signals), record
        assert seen.signals, name  # every answer of the proxy carries the reservation


async def _send_all(setup: Setup) -> list[tuple[str, Seen]]:
    sent: list[tuple[str, Seen]] = []
    for name, data, expected in HTTP1:
        seen = parse_h1(await raw_exchange(setup.proxy.url, data, seconds=15))
        assert (name, seen.status) == (name, expected)
        sent.append((name, seen))
    for name, path, fields, expected in HTTP2:
        answer = await h2_exchange(setup, path, fields)
        headers = {k.decode(): v.decode() for k, v in answer.headers.items()}
        assert (name, answer.status) == (name, expected)
        sent.append((name, Seen(answer.status, signals_of(headers))))
    return sent


def _diff(sent: list[tuple[str, Seen]], records: list[dict[str, Any]]) -> str:
    logged = [
        (
            r.get("url", {}).get("path", "")[:40],
            r.get("http", {}).get("response", {}).get("status_code"),
            r["event"]["action"],
        )
        for r in records
    ]
    return f"sent {[(n, s.status) for n, s in sent]}\nlogged {logged}"
