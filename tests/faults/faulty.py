"""A misbehaving upstream on loopback, written with asyncio streams so it can break HTTP.

Each path is one way an origin server fails: it hangs, resets mid-body, answers
garbage, sends a Content-Encoding its body does not have, or serves a robots.txt
that is huge or malformed. The robots.txt body and its framing (Content-Length or
chunked) are set per test.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

from e2e.harness import ROOT, Proxy

MIB = 1024 * 1024
TIMEOUT_ENV = {"OPTOUT_UPSTREAM_TIMEOUT": "1"}  # the proxy gives up on a hung upstream after 1 s
HTML = b"<!doctype html><html><head><title>t</title></head><body>" + b"x" * 4000 + b"</body></html>"


@dataclass
class Faulty:
    url: str = ""
    robots: bytes = b"User-agent: *\nDisallow: /admin/\n"
    robots_chunked: bool = False
    requests: list[str] = field(default_factory=list)
    heads: list[bytes] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            self.tasks.discard(task)

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False closes the connection."""
        head = await reader.readuntil(b"\r\n\r\n")
        path = head.split(b" ", 2)[1].decode()
        self.requests.append(path)
        self.heads.append(head)
        answer = ROUTES.get(path.partition("?")[0], _ok)
        return await answer(self, writer)

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()


def _head(status: str, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _ok(up: Faulty, writer: asyncio.StreamWriter) -> bool:
    writer.write(_head("200 OK", {"content-type": "text/plain", "content-length": "2"}) + b"ok")
    await writer.drain()
    return True


async def _hang(up: Faulty, writer: asyncio.StreamWriter) -> bool:
    await asyncio.sleep(3600)  # cancelled when the test ends
    return False


async def _reset_big(up: Faulty, writer: asyncio.StreamWriter) -> bool:
    """10 MiB announced (streamed by the proxy), 1 MiB sent, then the connection dies."""
    headers = {"content-type": "audio/mpeg", "content-length": str(10 * MIB)}
    writer.write(_head("200 OK", headers) + b"\0" * MIB)
    await writer.drain()
    writer.transport.abort()
    return False


async def _reset_page(up: Faulty, writer: asyncio.StreamWriter) -> bool:
    """A small HTML page (buffered by the proxy) cut off after a quarter of its body."""
    headers = {"content-type": "text/html", "content-length": str(len(HTML))}
    writer.write(_head("200 OK", headers) + HTML[: len(HTML) // 4])
    await writer.drain()
    writer.transport.abort()
    return False


async def _garbage(up: Faulty, writer: asyncio.StreamWriter) -> bool:
    writer.write(b"\x00\xff\xfeSSH-2.0-nonsense\r\nnot: http\r\n\r\n")
    await writer.drain()
    return False


async def _garbage_then_close(up: Faulty, writer: asyncio.StreamWriter) -> bool:
    writer.write(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a TLS hello, no line end
    await writer.drain()
    return False


async def _broken_gzip(up: Faulty, writer: asyncio.StreamWriter) -> bool:
    headers = {
        "content-type": "text/html",
        "content-encoding": "gzip",
        "content-length": str(len(HTML)),
    }
    writer.write(_head("200 OK", headers) + HTML)
    await writer.drain()
    return True


async def _robots(up: Faulty, writer: asyncio.StreamWriter) -> bool:
    if not up.robots_chunked:
        headers = {"content-type": "text/plain", "content-length": str(len(up.robots))}
        writer.write(_head("200 OK", headers))
        for start in range(0, len(up.robots), MIB):
            writer.write(up.robots[start : start + MIB])
            await writer.drain()
        return True
    writer.write(_head("200 OK", {"content-type": "text/plain", "transfer-encoding": "chunked"}))
    for start in range(0, len(up.robots), 64 * 1024):
        chunk = up.robots[start : start + 64 * 1024]
        writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        await writer.drain()
    writer.write(b"0\r\n\r\n")
    await writer.drain()
    return True


async def _echo(up: Faulty, writer: asyncio.StreamWriter) -> bool:
    """The request head as the upstream received it (what the proxy forwarded)."""
    head = up.heads[-1]
    writer.write(_head("200 OK", {"content-type": "text/plain", "content-length": str(len(head))}))
    writer.write(head)
    await writer.drain()
    return True


ROUTES = {
    "/echo": _echo,
    "/hang": _hang,
    "/reset-big": _reset_big,
    "/reset-page": _reset_page,
    "/garbage": _garbage,
    "/garbage-close": _garbage_then_close,
    "/broken-gzip": _broken_gzip,
    "/robots.txt": _robots,
}


async def start() -> tuple[Faulty, asyncio.Server]:
    up = Faulty()
    server = await asyncio.start_server(up.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    up.url = f"http://127.0.0.1:{port}"
    return up, server


async def kill(proxy: Proxy) -> None:
    if proxy.process.returncode is None:
        proxy.process.kill()
        await proxy.process.wait()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def rss_bytes(pid: int) -> int:
    """Resident set size of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def raw_exchange(url: str, data: bytes, seconds: float = 20) -> bytes:
    """Send bytes on a fresh connection and read everything until the proxy closes it."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), seconds)
    finally:
        writer.close()


async def start_noisy_proxy(upstream_url: str, tmp: Path, log: Path, env: dict[str, str]) -> Proxy:
    """Like the harness's start_proxy, for a proxy that warns on stderr before its ready line."""
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "proxy", "run", "--listen", "127.0.0.1:0"),
        *("--rules", str(ROOT / "rules"), "--log", str(log), "--state", str(tmp / "state")),
        stderr=asyncio.subprocess.PIPE,
        env={
            **os.environ,
            "OPTOUT_UPSTREAM": upstream_url,
            "HOME": str(tmp),
            "OPTOUT_VERIFY_DNS": "off",
            "OPTOUT_ADMIN": "127.0.0.1:0",
            **env,
        },
        cwd=ROOT,
    )
    assert process.stderr is not None
    for _ in range(20):
        line = await asyncio.wait_for(process.stderr.readline(), 30)
        ready = re.search(rb"ready on (http://[\d.]+:\d+).*admin (http://[\d.]+:\d+)", line)
        if ready:
            url, admin = ready.group(1).decode(), ready.group(2).decode()
            return Proxy(url, log, process, admin, line.decode())
    raise AssertionError("no ready line")
