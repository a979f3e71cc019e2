"""Admin endpoints on their own port (loopback by default), for probes, Prometheus and reloads.

    GET  /healthz   200 "ok": the process is alive
    GET  /readyz    200 when the rules are loaded and the upstream accepts a TCP
                    connection; 503 with the reason otherwise, and while shutting down
    GET  /metrics   the Prometheus text exposition
    POST /reload    reload the rules; needs `Authorization: Bearer <token>`

Only POST /reload changes anything, and only with the configured token: without
one it is refused outright, so an admin port exposed by mistake cannot be used to
swap rules. The token is compared in constant time and never logged (aiohttp's
access log is off). The upstream probe is cached for a moment, so frequent
readiness probes cost the upstream at most one connection per TTL.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from proxy.engine.reloader import Reloader
from proxy.ops.metrics import Metrics

PROBE_TIMEOUT = 1.0  # seconds a TCP connect to the upstream may take
PROBE_TTL = 2.0  # seconds a probe result is reused


class UpstreamProbe:
    """Is the upstream accepting TCP connections? Answers are cached for `ttl` seconds."""

    def __init__(
        self,
        upstream: str,
        timeout: float = PROBE_TIMEOUT,
        ttl: float = PROBE_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        parts = urlsplit(upstream)
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.timeout = timeout
        self.ttl = ttl
        self.clock = clock
        self._checked = float("-inf")
        self._problem: str | None = None
        self._lock = asyncio.Lock()

    async def problem(self) -> str | None:
        """None when the upstream is reachable, else a short reason."""
        async with self._lock:  # concurrent probes share one connection attempt
            if self.clock() - self._checked >= self.ttl:
                self._problem = await self._connect()
                self._checked = self.clock()
            return self._problem

    async def _connect(self) -> str | None:
        where = f"{self.host}:{self.port}"
        try:
            async with asyncio.timeout(self.timeout):
                _, writer = await asyncio.open_connection(self.host, self.port)
        except TimeoutError:
            return f"upstream {where} did not accept a connection within {self.timeout:g}s"
        except OSError as e:
            return f"upstream {where} unreachable: {e.strerror or e.__class__.__name__}"
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
        return None


@dataclass
class Admin:
    metrics: Metrics
    reloader: Reloader
    probe: UpstreamProbe
    token: str | None = None
    draining: bool = False  # set on SIGTERM: readiness fails while requests finish
    metrics_token: str | None = None  # when set, GET /metrics needs it as a bearer token

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(self, request: web.Request) -> web.Response:
        problem = await self._readiness()
        if problem:
            return web.Response(status=503, text=problem + "\n")
        return web.Response(text="ready\n")

    async def _readiness(self) -> str | None:
        if self.draining:
            return "shutting down"
        if not self.reloader.version:
            return "rules not loaded"
        return await self.probe.problem()

    async def metrics_text(self, request: web.Request) -> web.Response:
        if (refused := refusal(request, self.metrics_token, "optout-metrics")) is not None:
            return refused
        body = self.metrics.render()
        return web.Response(body=body, headers={"content-type": CONTENT_TYPE_LATEST})

    async def reload(self, request: web.Request) -> web.Response:
        if (refused := reload_refusal(request, self.token)) is not None:
            return refused
        result = await self.reloader.reload("admin")
        if result.ok:
            return json_response(200, {"ok": True, "version": result.version})
        return json_response(
            422, {"ok": False, "version": result.version, "errors": list(result.errors)}
        )


def refusal(request: web.Request, token: str | None, realm: str) -> web.Response | None:
    """401 when a `token` is set and the request does not carry it; None to go on."""
    if token is None or authorized(request.headers.get("authorization", ""), token):
        return None
    return json_response(
        401,
        {"ok": False, "error": "a valid 'Authorization: Bearer <token>' is required"},
        {"www-authenticate": f'Bearer realm="{realm}"'},
    )


def reload_refusal(request: web.Request, token: str | None) -> web.Response | None:
    """POST /reload: refused outright without a configured token (403), else `refusal`."""
    if token is None:
        message = "no admin token is configured (OPTOUT_ADMIN_TOKEN_FILE or OPTOUT_ADMIN_TOKEN)"
        return json_response(403, {"ok": False, "error": f"reload refused: {message}"})
    return refusal(request, token, "optout-admin")


def authorized(header: str, token: str) -> bool:
    """`Bearer <token>`, the token compared in constant time.

    aiohttp hands over header bytes that are not UTF-8 as surrogate escapes; they
    are compared as the bytes that arrived, so they fail like any wrong token.
    """
    scheme, _, given = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8", "surrogateescape"), token.encode())


class Endpoints(Protocol):
    """What the admin port serves: one process's (Admin) or a supervisor's (workeradmin)."""

    async def healthz(self, request: web.Request) -> web.Response: ...
    async def readyz(self, request: web.Request) -> web.Response: ...
    async def metrics_text(self, request: web.Request) -> web.Response: ...
    async def reload(self, request: web.Request) -> web.Response: ...


def make_app(admin: Endpoints) -> web.Application:
    app = web.Application()
    app.router.add_get("/healthz", admin.healthz)
    app.router.add_get("/readyz", admin.readyz)
    app.router.add_get("/metrics", admin.metrics_text)
    app.router.add_post("/reload", admin.reload)
    return app


async def start(admin: Endpoints, host: str, port: int) -> tuple[web.AppRunner, str]:
    """Serve the admin endpoints; returns the runner (to clean up) and the bound URL."""
    runner = web.AppRunner(make_app(admin), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    return runner, f"http://{shown}:{bound_port}"


def json_response(status: int, body: object, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps(body) + "\n",
        content_type="application/json",
        headers=headers,
    )
