"""Issue 15 over HTTP/2: `:path` is normalised as any target, and one host per request.

mitmproxy routes an HTTP/2 request by its `:authority` and forwards its Host
field to an HTTP/1 upstream, so a Host that contradicted `:authority` would let
the rules and the origin each see another host. The HTTP/2 stack (h2) already
refuses such a request as malformed (RFC 9113 §8.3.1: the connection is closed
with PROTOCOL_ERROR), before any hook; the Edge addon checks again (a 400).
The real proxy's https listener is spoken to in raw frames: curl will not send both.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import h2.config
import h2.connection
import h2.errors
import h2.events
import pytest
from e2e.harness import ROOT, Proxy, start_proxy
from faulty import TIMEOUT_ENV, Faulty, kill
from tlscerts import make_ca, write_leaf


@dataclass
class Setup:
    proxy: Proxy
    port: int
    context: ssl.SSLContext


@pytest.fixture
async def https(upstream: Faulty, tmp_path: Path) -> AsyncIterator[Setup]:
    ca = make_ca()
    write_leaf(ca, tmp_path / "certs", "a", ["a.test"])
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    tls = f"{{cert: {tmp_path}/certs/a.pem, key: {tmp_path}/certs/a.key}}"
    (rules / "sites.yaml").write_text(
        f"sites:\n  - {{hosts: [a.test], upstream: '{upstream.url}', tls: {tls}}}\n"
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proxy = await start_proxy(
        "", tmp_path, "--tls", f"127.0.0.1:{port}", rules=rules, env=TIMEOUT_ENV
    )
    context = ssl.create_default_context(cadata=ca.pem().decode())
    context.set_alpn_protocols(["h2"])
    yield Setup(proxy, port, context)
    await kill(proxy)


async def h2_get(setup: Setup, path: str, host: str | None) -> int:
    """GET over HTTP/2 with `:authority: a.test` and, if given, a Host field too.

    The status; 0 when the proxy closed the connection without answering.
    """
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", setup.port, ssl=setup.context, server_hostname="a.test"
    )
    config = h2.config.H2Configuration(client_side=True, validate_outbound_headers=False)
    connection = h2.connection.H2Connection(config)
    connection.initiate_connection()
    headers = [(":method", "GET"), (":scheme", "https"), (":authority", "a.test"), (":path", path)]
    connection.send_headers(1, headers + ([("host", host)] if host else []), end_stream=True)
    status = 0
    try:
        while True:
            writer.write(connection.data_to_send())
            await writer.drain()
            data = await asyncio.wait_for(reader.read(65536), 20)
            if not data:
                return status
            for event in connection.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    status = int(dict(event.headers)[b":status"])
                if isinstance(event, h2.events.ConnectionTerminated):
                    assert event.error_code == h2.errors.ErrorCodes.PROTOCOL_ERROR
                    return status
                if isinstance(event, h2.events.StreamEnded | h2.events.StreamReset):
                    return status
    except ConnectionResetError:
        return status
    finally:
        writer.close()


async def test_path_is_normalised_and_a_contradicting_host_reaches_nothing(
    https: Setup, upstream: Faulty
) -> None:
    assert await h2_get(https, "/x", "other.example") == 0
    assert await h2_get(https, "/x", "a.test:8443") == 0  # another port is another host
    assert upstream.requests == []
    assert await h2_get(https, "/a/%2e%2e//%70ublic", "a.test") == 200
    assert await h2_get(https, "/b/./c%2fd", None) == 400
    assert upstream.requests == ["/public"]
    assert b"\r\nhost: a.test\r\n" in upstream.heads[0].lower()
    records = await https.proxy.stop()
    assert [(r["http"]["response"]["status_code"], r["optout"]["rule"]) for r in records] == [
        (200, "default"),
        (400, "edge/encoded-slash"),
    ]
