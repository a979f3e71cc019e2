"""An HTTP/2 client in raw frames, and the real proxy with an https listener to speak it to.

h2 (the library) lets a test send what curl will not: a Host besides
`:authority`, or fields no client sends. Each exchange is one request on a
fresh connection, read until the stream (or the connection) ends.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import h2.config
import h2.connection
import h2.errors
import h2.events
from e2e.harness import ROOT, Proxy, start_proxy
from faulty import TIMEOUT_ENV
from tlscerts import make_ca, write_leaf


@dataclass
class Setup:
    proxy: Proxy
    port: int
    context: ssl.SSLContext


async def start_https(
    upstream_url: str, tmp_path: Path, more_sites: str = "", env: dict[str, str] | None = None
) -> Setup:
    """The real proxy with an https listener for a.test, in front of `upstream_url`.

    `more_sites`: further entries (lines) of sites.yaml; `env` adds to TIMEOUT_ENV.
    """
    ca = make_ca()
    write_leaf(ca, tmp_path / "certs", "a", ["a.test"])
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    tls = f"{{cert: {tmp_path}/certs/a.pem, key: {tmp_path}/certs/a.key}}"
    (rules / "sites.yaml").write_text(
        f"sites:\n  - {{hosts: [a.test], upstream: '{upstream_url}', tls: {tls}}}\n" + more_sites
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proxy = await start_proxy(
        "", tmp_path, "--tls", f"127.0.0.1:{port}", rules=rules, env={**TIMEOUT_ENV, **(env or {})}
    )
    context = ssl.create_default_context(cadata=ca.pem().decode())
    context.set_alpn_protocols(["h2"])
    return Setup(proxy, port, context)


@dataclass
class Answer:
    status: int = 0  # 0: the proxy closed the connection without answering
    headers: dict[bytes, bytes] = field(default_factory=dict)
    body: bytes = b""


async def h2_exchange(
    setup: Setup,
    path: str,
    extra: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    drop_authority: bool = False,
) -> Answer:
    """One request over HTTP/2 with `:authority: a.test` and the `extra` fields; what came back.

    `body` must fit the stream's first flow-control window (64 KiB).
    """
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", setup.port, ssl=setup.context, server_hostname="a.test"
    )
    config = h2.config.H2Configuration(client_side=True, validate_outbound_headers=False)
    connection = h2.connection.H2Connection(config)
    connection.initiate_connection()
    method = "POST" if body else "GET"
    headers = [(":method", method), (":scheme", "https"), (":authority", "a.test"), (":path", path)]
    if drop_authority:
        headers.remove((":authority", "a.test"))
    connection.send_headers(1, [*headers, *extra], end_stream=not body)
    size = connection.max_outbound_frame_size
    for start in range(0, len(body), size):
        connection.send_data(1, body[start : start + size], end_stream=start + size >= len(body))
    answer = Answer()
    try:
        while True:
            writer.write(connection.data_to_send())
            await writer.drain()
            data = await asyncio.wait_for(reader.read(65536), 20)
            if not data:
                return answer
            for event in connection.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    answer.headers = dict(event.headers)
                    answer.status = int(answer.headers[b":status"])
                if isinstance(event, h2.events.DataReceived):
                    answer.body += event.data
                    connection.acknowledge_received_data(event.flow_controlled_length, 1)
                if isinstance(event, h2.events.ConnectionTerminated):
                    assert event.error_code == h2.errors.ErrorCodes.PROTOCOL_ERROR
                    return answer
                if isinstance(event, h2.events.StreamEnded | h2.events.StreamReset):
                    return answer
    except ConnectionResetError:
        return answer
    finally:
        writer.close()


async def h2_get(setup: Setup, path: str, host: str | None) -> int:
    """The status of a GET over HTTP/2 with, if given, a Host field besides `:authority`."""
    return (await h2_exchange(setup, path, [("host", host)] if host else [])).status
