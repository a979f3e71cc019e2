"""End-to-end harness: a real upstream (aiohttp) and the real proxy, on loopback.

The proxy runs as a subprocess of `python -m proxy run`, exactly as an operator
starts it; the test reads its ready line for the port and its access log file.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import re
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import brotli
from aiohttp import web

ROOT = Path(__file__).resolve().parents[2]
BIG = 10 * 1024 * 1024
LABEL_PAGE = (
    b"<!doctype html><html><head><meta charset=utf-8>"
    b'<meta name="tdm-reservation" content="0"><meta name="robots" content="noindex">'
    b"<title>Aurora EP</title></head><body><p>Listen</p></body></html>"
)
PAGE = b"<!doctype html><html><head><title>t</title></head><body>" + b"x" * 5000 + b"</body></html>"


@dataclass
class Upstream:
    url: str = ""
    requests: list[str] = field(default_factory=list)
    release_big: asyncio.Event = field(default_factory=asyncio.Event)
    seen_headers: dict[str, str] = field(default_factory=dict)
    robots: tuple[int, bytes] = (
        200,
        b"User-agent: *\nDisallow: /admin/\n\nUser-agent: GPTBot\nAllow: /\n\n"
        b"Sitemap: https://label.example/sitemap.xml\n",
    )


def make_app(upstream: Upstream) -> web.Application:
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        upstream.requests.append(request.path_qs)
        return await handler(request)

    async def page(request: web.Request) -> web.Response:
        return web.Response(body=PAGE, content_type="text/html")

    async def encoded(request: web.Request) -> web.Response:
        # A page with its own conflicting TDMRep tag, compressed as the client allows.
        coding = request.match_info["coding"]
        body = LABEL_PAGE
        compressed = {"gzip": gzip.compress, "br": brotli.compress}[coding](body)
        headers = {"content-encoding": coding, "content-type": "text/html; charset=utf-8"}
        return web.Response(body=compressed, headers=headers)

    async def headers(request: web.Request) -> web.Response:
        upstream.seen_headers = {k.lower(): v for k, v in request.headers.items()}
        return web.Response(text="ok")

    async def host(request: web.Request) -> web.Response:
        return web.Response(text=request.headers.get("host", ""))

    async def robots(request: web.Request) -> web.Response:
        status, body = upstream.robots
        return web.Response(status=status, body=body, content_type="text/plain")

    async def error(request: web.Request) -> web.Response:
        return web.Response(status=500, text="upstream broke")

    async def image(request: web.Request) -> web.Response:
        return web.Response(body=b"\x89PNG\r\n\x1a\n" + b"\0" * 100, content_type="image/png")

    async def big(request: web.Request) -> web.StreamResponse:
        # Sends the first MiB, then waits until the test has received bytes through
        # the proxy: a proxy that buffered the whole body would never deliver them.
        response = web.StreamResponse(headers={"content-type": "audio/mpeg"})
        response.content_length = BIG
        await response.prepare(request)
        chunk = bytes(range(256)) * 4096  # 1 MiB
        await response.write(chunk)
        if request.query.get("wait"):
            await asyncio.wait_for(upstream.release_big.wait(), 30)
        for _ in range(BIG // len(chunk) - 1):
            await response.write(chunk)
        await response.write_eof()
        return response

    app = web.Application(middlewares=[web.middleware(record)])
    app.router.add_get("/page", page)
    app.router.add_get("/encoded/{coding}", encoded)
    app.router.add_get("/host", host)
    app.router.add_get("/headers", headers)
    app.router.add_get("/error", error)
    app.router.add_get("/robots.txt", robots)
    app.router.add_get("/cover.png", image)
    app.router.add_get("/big.mp3", big)
    return app


@dataclass
class Proxy:
    url: str
    log: Path
    process: asyncio.subprocess.Process
    admin: str | None = None  # the admin endpoints' base URL, when they listen
    ready: str = ""  # the ready line
    https: str | None = None  # HOST:PORT of the https listener (--tls), when it listens

    async def stop(self) -> list[dict[str, Any]]:
        """SIGTERM, as a container platform does, then read the access log."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(self.process.wait(), 20)
        return [json.loads(line) for line in self.log.read_text().splitlines()]


async def start_proxy(
    upstream_url: str,
    tmp: Path,
    *args: str,
    rules: Path = ROOT / "rules",
    env: dict[str, str] | None = None,
    nofile: int | None = None,
    ready_within: float = 30,
) -> Proxy:
    """`env` adds to (or overrides) the proxy's environment; `nofile` limits its descriptors;
    `ready_within`: seconds the ready line may take (several workers start slower)."""
    log = tmp / "access.jsonl"
    # No DNS in tests: reverse-DNS checks are covered with a local resolver elsewhere.
    # The admin endpoints take a free port, so proxies of parallel tests never collide.
    env = {
        **os.environ,
        "OPTOUT_UPSTREAM": upstream_url,
        "HOME": str(tmp),
        "OPTOUT_VERIFY_DNS": "off",
        "OPTOUT_ADMIN": "127.0.0.1:0",
        **(env or {}),
    }
    limit = ("prlimit", f"--nofile={nofile}:{nofile}") if nofile is not None else ()
    process = await asyncio.create_subprocess_exec(
        *limit,
        sys.executable,
        "-m",
        "proxy",
        "run",
        "--listen",
        "127.0.0.1:0",
        "--rules",
        str(rules),
        "--log",
        str(log),
        "--state",
        str(tmp / "state"),
        *args,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    assert process.stderr is not None
    line = await asyncio.wait_for(process.stderr.readline(), ready_within)
    match = re.search(rb"ready on (http://[\d.]+:\d+)", line)
    assert match, f"no ready line: {line!r}"
    admin = re.search(rb"admin (http://[\d.]+:\d+)", line)
    admin_url = admin.group(1).decode() if admin else None
    https = re.search(rb", https://([\d.]+:\d+)", line)
    https_at = https.group(1).decode() if https else None
    return Proxy(match.group(1).decode(), log, process, admin_url, line.decode(), https_at)
