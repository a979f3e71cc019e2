"""An origin that answers each path with bytes the test wrote, in steps, over raw asyncio streams.

For what no HTTP server library sends on purpose: interim heads before the
final one, a response that is split mid-head, trailers, or a head with both
Content-Length and Transfer-Encoding. A step is bytes to write or a float
(seconds to wait); the connection is kept alive between requests.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

Step = bytes | float
LENGTH = re.compile(rb"\r\ncontent-length: *(\d+)", re.IGNORECASE)


@dataclass
class Scripted:
    answers: dict[str, list[Step]]
    url: str = ""
    requests: list[str] = field(default_factory=list)
    heads: list[bytes] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = LENGTH.search(head)
                if length:
                    await reader.readexactly(int(length.group(1)))
                path = head.split(b" ", 2)[1].decode() if head.count(b" ") > 1 else ""
                self.heads.append(head)
                self.requests.append(path)
                for step in self.answers.get(path, [ok(b"ok")]):
                    if isinstance(step, float):
                        await asyncio.sleep(step)
                    elif not step:
                        return
                    else:
                        writer.write(step)
                        await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


def ok(body: bytes, *headers: bytes) -> bytes:
    """A complete 200 with a Content-Length, and `headers` (whole lines) before it."""
    fields = b"".join(h + b"\r\n" for h in headers)
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"
        + fields
        + b"content-length: %d\r\n\r\n%s" % (len(body), body)
    )


# An Early Hints head (Node's writeEarlyHints), and a page to follow it.
HINTS = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n"
PAGE = ok(b"<!doctype html><title>p</title>page", b"content-type: text/html")


@asynccontextmanager
async def scripted(answers: dict[str, list[Step]]) -> AsyncIterator[Scripted]:
    origin = Scripted(answers)
    server = await asyncio.start_server(origin.handle, "127.0.0.1", 0)
    origin.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield origin
    finally:
        server.close()
        server.close_clients()
        await server.wait_closed()
