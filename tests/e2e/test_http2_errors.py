"""End-to-end: the engine's own error pages over HTTP/2 are ours, as over HTTP/1.

The real proxy with TLS in front of two sites: one whose upstream hangs
(504 after the upstream timeout) and one whose upstream is down (502). curl
asks over HTTP/2; the page must come back over HTTP/2 with the reservation
headers and our short body, never mitmproxy's banner or the upstream's errno.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from faults.faulty import TIMEOUT_ENV, Faulty, closed_port, kill
from faults.faulty import start as start_faulty
from harness import ROOT, Proxy, start_proxy
from tlscerts import make_ca, write_leaf

RESERVATION = ("tdm-reservation", "content-usage", "x-robots-tag", "link")


@dataclass
class Setup:
    proxy: Proxy
    port: int  # the https listener's
    ca_file: Path
    down_port: int  # the down site's upstream, where nothing listens
    upstream: Faulty


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rules(tmp: Path, slow: str, down: str) -> Path:
    rules = tmp / "rules"
    shutil.copytree(ROOT / "rules", rules)
    tls = f"{{cert: {tmp}/certs/s.pem, key: {tmp}/certs/s.key}}"
    (rules / "sites.yaml").write_text(
        "sites:\n"
        f"  - hosts: [slow.test]\n    upstream: {slow}\n    tls: {tls}\n"
        f"  - hosts: [down.test]\n    upstream: {down}\n    tls: {tls}\n"
    )
    return rules


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    upstream, server = await start_faulty()
    ca = make_ca()
    write_leaf(ca, tmp_path / "certs", "s", ["slow.test", "down.test"])
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.pem())
    down_port = closed_port()
    rules = _rules(tmp_path, upstream.url, f"http://127.0.0.1:{down_port}")
    port = _free_port()
    proxy = await start_proxy(
        "", tmp_path, "--tls", f"127.0.0.1:{port}", rules=rules, env=TIMEOUT_ENV
    )
    yield Setup(proxy, port, ca_file, down_port, upstream)
    await kill(proxy)
    await upstream.close()
    server.close()
    await server.wait_closed()


@dataclass(frozen=True)
class Answer:
    version: str
    status: int
    headers: dict[str, str]
    body: bytes


async def h2_get(setup: Setup, host: str, path: str, tmp: Path) -> Answer:
    """GET with curl, which offers h2 by ALPN; the caller checks the version it got."""
    head, body = tmp / f"{host}.head", tmp / f"{host}.body"
    curl = await asyncio.create_subprocess_exec(
        *("curl", "-s", "--http2", "--max-time", "20", "--cacert", str(setup.ca_file)),
        *("--resolve", f"{host}:{setup.port}:127.0.0.1", "-D", str(head), "-o", str(body)),
        *("-w", "%{http_version} %{response_code}", f"https://{host}:{setup.port}{path}"),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(curl.communicate(), 30)
    version, status = out.decode().split()
    fields = [line.partition(":") for line in head.read_text().splitlines()[1:] if line]
    headers = {name.strip().lower(): value.strip() for name, _, value in fields}
    return Answer(version, int(status), headers, body.read_bytes())


def assert_our_page(answer: Answer, status: int, says: bytes, port: int) -> None:
    assert (answer.version, answer.status) == ("2", status)
    for name in RESERVATION:
        assert name in answer.headers, name
    assert "server" not in answer.headers, answer.headers
    assert answer.headers["content-type"].startswith("text/html")
    assert says in answer.body
    text = answer.body.decode().lower()
    for leak in ("mitmproxy", "errno", "127.0.0.1", str(port), "connect call"):
        assert leak not in text, leak


def only_record(records: list[dict[str, Any]], host: str) -> dict[str, Any]:
    matching = [r for r in records if r["url"]["domain"] == host]
    assert len(matching) == 1, records
    return matching[0]


async def test_upstream_down_is_our_502_over_http2(setup: Setup, tmp_path: Path) -> None:
    answer = await h2_get(setup, "down.test", "/page", tmp_path)
    assert_our_page(answer, 502, b"temporarily unavailable", setup.down_port)
    record = only_record(await setup.proxy.stop(), "down.test")
    assert record["http"]["response"]["status_code"] == 502


async def test_upstream_too_slow_is_our_504_over_http2(setup: Setup, tmp_path: Path) -> None:
    answer = await h2_get(setup, "slow.test", "/hang", tmp_path)
    upstream_port = int(setup.upstream.url.rsplit(":", 1)[1])
    assert_our_page(answer, 504, b"took too long", upstream_port)
    record = only_record(await setup.proxy.stop(), "slow.test")
    assert record["error"]["message"] == "upstream timeout"
    assert record["http"]["response"]["status_code"] == 504
