"""The path the proxy judged is the path nginx serves: a differential test, nginx behind the proxy.

nginx is the upstream, configured to answer every request with the target it
received (`$request_uri`) and the path it resolved (`$uri`: decoded, dot
segments removed, slashes merged). For a corpus of tricky targets (issue 15's
findings, and spellings generated from them: `%2e`, `%2E`, `..%2f`, `//`,
`/./`, `;`, `%70`, `%25`, non-ASCII, `#`, `\\`, control bytes...) every request
the proxy forwards must have been judged (its access-log record) on the path
nginx then resolved, and nginx must have received exactly that path; every
other request must get the proxy's own 400. The same corpus sent to nginx
directly is the reference: where both accept a target they resolve it alike.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

import pytest
from harness import start_proxy

MARKER = b"NGINX "
_CONFIG = """\
daemon off;
master_process off;
pid {tmp}/nginx.pid;
error_log stderr error;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    types {{ }}
    default_type text/plain;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "NGINX $request_uri\\n$uri"; }}
    }}
}}
"""


def nginx_binary() -> str | None:
    """nginx on PATH, or where Debian installs it (/usr/sbin is not on a user's PATH)."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    return found


def resolved(body: bytes) -> tuple[bytes, bytes] | None:
    """(request_uri, uri) from an answer body of this origin; None if nginx did not write it."""
    if not body.startswith(MARKER):
        return None
    request_uri, _, uri = body.removeprefix(MARKER).partition(b"\n")
    return request_uri, uri


@asynccontextmanager
async def nginx_origin(tmp: Path) -> AsyncIterator[str]:
    """Run nginx for the block; yields its URL."""
    binary = nginx_binary()
    assert binary is not None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (tmp / "nginx.conf").write_text(_CONFIG.format(tmp=tmp, port=port))
    process = await asyncio.create_subprocess_exec(
        *(binary, "-e", "stderr", "-p", str(tmp), "-c", str(tmp / "nginx.conf")),
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await _wait_for(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        if process.returncode is None:
            process.terminate()
            await asyncio.wait_for(process.wait(), 10)


async def _wait_for(port: int, process: asyncio.subprocess.Process) -> None:
    for _ in range(100):
        if process.returncode is not None:
            assert process.stderr is not None
            raise RuntimeError(f"nginx exited: {(await process.stderr.read()).decode()}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return
    raise RuntimeError("nginx did not start listening")


pytestmark = pytest.mark.skipif(
    nginx_binary() is None,
    reason="nginx is not installed (apt-get install nginx); .ci/run installs it for CI",
)

# Issue 15's own cases (findings 1 and 2) and the classic traversal spellings.
HAND = [
    b"/.well-known/../music/a.html",
    b"/.well-known/%2e%2e/music/a.html",
    b"/.well-known/..%2fmusic/a.html",
    b"/%70rivate/x",
    b"//private/x",
    b"/./private/x",
    b"/a/../private/x",
    b"/a/%2e%2e/private/x",
    b"/%2e/private/x",
    b"/private%2fx",
    b"/%73ecret.html",
    b"/secret.htm%6c",
    b"/secret.html#x",
    b"/%2e%2e/%2e%2e/etc/passwd",
    b"/../../private/x",
    b"/..;/private/x",
    b"/private;x/y",
    b"/private/x;.css",
    b"/%c0%ae%c0%ae/private/x",  # overlong UTF-8 dots: bytes to nginx, not dots
    "/．．/private/x".encode(),  # fullwidth full stops
    b"/PRIVATE/x",
    b"/private/x?a=/../b#c",
    b"/private/./x/.",
    b"/private/x/..",
    b"/.",
    b"/..",
    b"/",
    b"//",
    b"/%2e",
    b"/%2e%2e",
    b"/%2E%2e/",
    b"/%2520b",
    b"/%7eu",
    b"/a<b>c`d{e}^",
    b"/\xff\xfe",
    b"/%e2%80%ae",
    b"/a#",
    b"/a#/../../x",
    b"/a?#",
]
BASES = [b"/private/x", b"/secret.html", b"/music/a.html", b"/a/b/c.html"]
INSERTS = [b"/.", b"/", b"/%2e", b"/%2E", b"/z/..", b"/z/%2e%2e", b"/z/%2E%2e", b"/z/.%2e",
           b"/z/..%2f", b"/z/..%2F", b"/.;", b"/;"]  # fmt: skip
SUFFIXES = [b"#frag", b"#/../x", b"?q=/../x", b"?", b"/", b"/.", b"/..", b";x", b"%00", b"%0a",
            b"%", b"%zz", b"%2", b"\\", b"%5c", b"%25", b"%2570", b"\xc3\xa9", b"%c3%a9", b"+",
            b"%20", b"%7e", b"|", b'"', b"\x01", b"\x1b", b"\x7f"]  # fmt: skip


def _encode(path: bytes, index: int, upper: bool) -> bytes:
    escape = (b"%%%02X" if upper else b"%%%02x") % path[index]
    return path[:index] + escape + path[index + 1 :]


def _insert(path: bytes, slash: int, piece: bytes) -> bytes:
    return path[:slash] + piece + path[slash:]


def corpus() -> list[bytes]:
    """HAND, then every single mutation of each base, then seeded random compositions."""
    found = list(HAND)
    for base in BASES:
        slashes = [i for i, c in enumerate(base) if c == ord("/")]
        letters = [i for i, c in enumerate(base) if c != ord("/")]
        found += [_encode(base, i, upper) for i in letters[:6] for upper in (False, True)]
        found += [_insert(base, s, piece) for s in slashes for piece in INSERTS]
        found += [base + suffix for suffix in SUFFIXES]
    rng = random.Random(15)  # the number: the same corpus on every run
    for _ in range(120):
        target = rng.choice(BASES)
        for _ in range(rng.randint(2, 3)):
            slashes = [i for i, c in enumerate(target) if c == ord("/")]
            letters = [i for i, c in enumerate(target) if chr(c).isalpha()]
            kind = rng.randrange(3)
            if kind == 0 and letters:
                target = _encode(target, rng.choice(letters), rng.random() < 0.5)
            elif kind == 1:
                target = _insert(target, rng.choice(slashes), rng.choice(INSERTS))
            else:
                target += rng.choice(SUFFIXES)
        found.append(target)
    return list(dict.fromkeys(found))


async def _exchange(url: str, target: bytes, ua: str) -> tuple[int, bytes]:
    """(status, body) of `GET target` sent exactly as written."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            b"GET %s HTTP/1.1\r\nHost: label.example\r\nUser-Agent: %s\r\nConnection: close\r\n\r\n"
            % (target, ua.encode())
        )
        answer = await asyncio.wait_for(reader.read(), 20)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def _ua(index: int) -> str:
    return f"Mozilla/5.0 (X11; Linux x86_64) differential/{index}"


def _query(target: bytes) -> bytes | None:
    before_fragment = target.partition(b"#")[0]
    return before_fragment.partition(b"?")[2] if b"?" in before_fragment else None


def _check(
    target: bytes, through: tuple[int, bytes], direct: tuple[int, bytes], record: Any
) -> str | None:
    """What is wrong with one target's exchange, or None."""
    status, body = through
    seen = resolved(body)
    if record is None:
        return "no access-log record"
    if seen is None:  # not forwarded: it must be the proxy's own 400, logged as such
        if status != 400 or b"nginx" in body:
            return f"not forwarded, answered {status}: {body[:60]!r}"
        return None if record["http"]["response"].get("status_code") == 400 else "record not 400"
    received, uri = seen
    judged = record["url"]["path"].encode("utf-8", "surrogateescape")
    if status != 200:
        return f"forwarded and nginx answered {status}"
    if unquote_to_bytes(judged) != uri:
        return f"judged {judged!r}, nginx resolved {uri!r}"
    path, question, query = received.partition(b"?")
    if path != judged or (query if question else None) != _query(target):
        return f"judged {judged!r}, nginx received {received!r}"
    reference = resolved(direct[1])
    if direct[0] == 200 and reference is not None and reference[1] != uri:
        return f"nginx alone resolves {reference[1]!r}, behind the proxy {uri!r}"
    return None


@pytest.fixture
async def origin(tmp_path: Path) -> AsyncIterator[str]:
    (tmp_path / "nginx").mkdir()
    async with nginx_origin(tmp_path / "nginx") as url:
        yield url


async def test_every_forwarded_path_was_judged_as_nginx_resolves_it(
    origin: str, tmp_path: Path
) -> None:
    targets = corpus()
    assert len(targets) >= 200
    proxy = await start_proxy(origin, tmp_path)
    try:
        through = [await _exchange(proxy.url, t, _ua(i)) for i, t in enumerate(targets)]
    finally:
        records = await proxy.stop()
    direct = [await _exchange(origin, t, _ua(i)) for i, t in enumerate(targets)]
    judged = {r["user_agent"]["original"]: r for r in records}
    assert len(records) == len(targets)
    problems = {
        target: problem
        for i, target in enumerate(targets)
        if (problem := _check(target, through[i], direct[i], judged.get(_ua(i))))
    }
    assert problems == {}
    forwarded = sum(resolved(body) is not None for _, body in through)
    assert 0.4 * len(targets) < forwarded < len(targets)  # both kinds are really exercised


async def test_nginx_alone_serves_what_a_raw_path_rule_would_have_missed(origin: str) -> None:
    """The reference: the corpus is tricky, nginx resolves many targets to another path."""
    targets = corpus()
    direct = [await _exchange(origin, t, _ua(i)) for i, t in enumerate(targets)]
    moved = [
        t
        for t, (status, body) in zip(targets, direct, strict=True)
        if status == 200
        and (seen := resolved(body)) is not None
        and seen[1] != t.partition(b"?")[0]  # what the proxy used to judge
    ]
    assert b"/.well-known/../music/a.html" in moved
    assert b"/private%2fx" in moved  # served as /private/x: why the proxy refuses %2F
    assert len(moved) > 100
