"""A streamed request body is held to optout_max_body too (the `streamedbody` patch).

Once a body of unknown length passes `stream_large_bodies` (2 MiB), the engine
streams it upstream and stops checking its size. With a limit above that, only
our count refuses it: the client gets 413 (or a closed connection, if it was
still sending), the upstream request is cut off, and the log says why.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from e2e.harness import start_proxy

MIB = 1024 * 1024
SENT = 6 * MIB
LIMIT_ENV = {"OPTOUT_MAX_BODY": "3m", "OPTOUT_UPSTREAM_TIMEOUT": "10"}


@dataclass
class Sink:
    """An upstream that reads a chunked request body to its end, then answers 200."""

    received: int = 0
    completed: bool = False

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
                self.received += len(await reader.readexactly(size + 2)) - 2
            self.completed = True
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the proxy cut the request off
        finally:
            writer.close()


async def send_chunked(url: str, total: int) -> bytes:
    """POST `total` bytes chunked; what the proxy answered, once it closed the connection."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    head = b"POST /upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    writer.write(head + b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"a" * (256 * 1024)
    try:
        for _ in range(total // len(chunk)):
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
    except ConnectionError:
        pass  # refused while still sending
    try:
        return await asyncio.wait_for(reader.read(), 20)
    except ConnectionError:
        return b""
    finally:
        writer.close()


async def test_a_streamed_body_over_the_limit_is_refused_and_cut_upstream(tmp_path: Path) -> None:
    sink = Sink()
    server = await asyncio.start_server(sink.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    proxy = await start_proxy(f"http://127.0.0.1:{port}", tmp_path, env=LIMIT_ENV)
    try:
        answer = await send_chunked(proxy.url, SENT)
        records = await proxy.stop()
    finally:
        if proxy.process.returncode is None:
            proxy.process.kill()
            await proxy.process.wait()
        server.close()
        await server.wait_closed()
    assert answer == b"" or answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    (record,) = [r for r in records if r["url"]["path"] == "/upload"]
    assert record["error"]["message"] == "request body too large"
    assert not sink.completed
    assert 2 * MIB < sink.received < SENT  # it streamed, then was cut off
