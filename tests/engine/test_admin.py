"""The admin endpoints on loopback: probes, metrics, and a reload only with the token."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest

from proxy.engine.admin import Admin, UpstreamProbe, authorized, start
from proxy.engine.reloader import ReloadResult
from proxy.ops.metrics import Metrics

TOKEN = "correct horse battery staple"


@dataclass
class FakeReloader:
    """Answers reloads from a script; records the reasons."""

    results: list[ReloadResult] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    version: str = "0123456789ab"

    async def reload(self, reason: str) -> ReloadResult:
        self.reasons.append(reason)
        return self.results.pop(0)


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[str, list[int]]]:
    """A TCP listener standing in for the upstream; counts the connections it gets."""
    connections: list[int] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", connections
    server.close()
    await server.wait_closed()


@pytest.fixture
async def admin(upstream: tuple[str, list[int]]) -> AsyncIterator[tuple[Admin, str]]:
    metrics = Metrics()
    metrics.rules_in_force("0123456789ab", 1.0)
    state = Admin(metrics, FakeReloader(), UpstreamProbe(upstream[0]), TOKEN)  # type: ignore[arg-type]
    runner, url = await start(state, "127.0.0.1", 0)
    yield state, url
    await runner.cleanup()


async def fetch(method: str, url: str, **kwargs: object) -> tuple[int, str, dict[str, str]]:
    async with aiohttp.ClientSession() as session:
        async with session.request(method, url, **kwargs) as response:  # type: ignore[arg-type]
            return response.status, await response.text(), dict(response.headers)


async def test_healthz_and_readyz(admin: tuple[Admin, str]) -> None:
    state, url = admin
    assert (await fetch("GET", f"{url}/healthz"))[:2] == (200, "ok\n")
    assert (await fetch("GET", f"{url}/readyz"))[:2] == (200, "ready\n")
    state.draining = True
    assert (await fetch("GET", f"{url}/readyz"))[:2] == (503, "shutting down\n")


async def test_metrics_are_prometheus_text(admin: tuple[Admin, str]) -> None:
    _, url = admin
    status, text, headers = await fetch("GET", f"{url}/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=")
    assert 'optout_rules_version_info{version="0123456789ab"} 1.0' in text


async def test_the_upstream_probe_is_cached(upstream: tuple[str, list[int]]) -> None:
    url, connections = upstream
    now = [100.0]
    probe = UpstreamProbe(url, ttl=2.0, clock=lambda: now[0])
    assert await asyncio.gather(probe.problem(), probe.problem(), probe.problem()) == [None] * 3
    await asyncio.sleep(0.05)
    assert len(connections) == 1
    now[0] += 2.0
    assert await probe.problem() is None
    await asyncio.sleep(0.05)
    assert len(connections) == 2


async def test_an_unreachable_upstream_is_not_ready() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    problem = await UpstreamProbe(f"http://127.0.0.1:{port}").problem()
    assert problem is not None
    assert problem.startswith(f"upstream 127.0.0.1:{port} unreachable: ")


def test_the_probe_knows_default_ports() -> None:
    assert (UpstreamProbe("https://origin").host, UpstreamProbe("https://origin").port) == (
        "origin",
        443,
    )
    assert UpstreamProbe("http://origin").port == 80


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        (f"Bearer {TOKEN}", True),
        (f"bearer {TOKEN}", True),
        (f"Bearer {TOKEN}x", False),
        ("Bearer ", False),
        ("", False),
        (f"Basic {TOKEN}", False),
        (TOKEN, False),
    ],
)
def test_authorized(header: str, ok: bool) -> None:
    assert authorized(header, TOKEN) is ok


async def test_reload_needs_the_token(
    admin: tuple[Admin, str], caplog: pytest.LogCaptureFixture
) -> None:
    state, url = admin
    reloader = state.reloader
    assert isinstance(reloader, FakeReloader)
    caplog.set_level(logging.DEBUG)
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {TOKEN}"}):
        status, _, answer = await fetch("POST", f"{url}/reload", headers=headers)
        assert status == 401
        assert answer["WWW-Authenticate"].startswith("Bearer")
    assert reloader.reasons == []
    reloader.results = [
        ReloadResult(True, "fedcba987654"),
        ReloadResult(False, "0123456789ab", ("rules/policy.yaml:3: default: missing",)),
    ]
    auth = {"Authorization": f"Bearer {TOKEN}"}
    status, body, _ = await fetch("POST", f"{url}/reload", headers=auth)
    assert (status, body) == (200, '{"ok": true, "version": "fedcba987654"}\n')
    status, body, _ = await fetch("POST", f"{url}/reload", headers=auth)
    assert status == 422
    assert '"errors": ["rules/policy.yaml:3: default: missing"]' in body
    assert reloader.reasons == ["admin", "admin"]
    assert TOKEN not in caplog.text


async def test_reload_is_refused_without_a_configured_token(admin: tuple[Admin, str]) -> None:
    state, url = admin
    state.token = None
    status, body, _ = await fetch("POST", f"{url}/reload", headers={"Authorization": "Bearer "})
    assert status == 403
    assert "no admin token is configured" in body


@pytest.mark.parametrize(("method", "path"), [("GET", "/reload"), ("POST", "/metrics")])
async def test_nothing_else_writes(admin: tuple[Admin, str], method: str, path: str) -> None:
    _, url = admin
    assert (await fetch(method, f"{url}{path}"))[0] == 405
