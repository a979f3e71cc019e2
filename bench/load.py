"""Load generation: wrk when it exists, a small asyncio client when it cannot be had.

wrk reports through a Lua `done()` hook that prints one JSON line, so nothing
is parsed from its human-readable summary (whose units change with magnitude).
The fallback is far slower than wrk and shares the CPU with the proxies; its
figures are only good for ratios within the same run.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

_DONE_LUA = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"bytes":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,' ..
    '"p99_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\\n',
    summary.requests, summary.bytes, summary.duration, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), e.connect, e.read, e.write,
    e.status, e.timeout))
end
"""


@dataclass(frozen=True, slots=True)
class Load:
    """What one load run measured, in plain units."""

    requests: int
    bytes: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: int  # connect/read/write/timeout errors
    non_2xx: int  # responses with a status >= 400 (a block is one)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def mb_s(self) -> float:
        return self.bytes / self.seconds / 1e6

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "rps": self.rps, "mb_s": self.mb_s}


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def run(url: str, connections: int, seconds: float, headers: Sequence[str], lua: str = "") -> Load:
    """`lua`: more of wrk's script (a `request` function varying each request); wrk only."""
    if have_wrk():
        return _wrk(url, connections, seconds, headers, lua)
    if lua:
        raise RuntimeError("a Lua request script needs wrk")
    return asyncio.run(_fallback(url, connections, seconds, headers))


def _wrk(url: str, connections: int, seconds: float, headers: Sequence[str], lua: str = "") -> Load:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua + _DONE_LUA)
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "--timeout", "30s"]
    for header in headers:
        argv += ["-H", header]
    argv += ["-s", script.name, url]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60).stdout
    finally:
        Path(script.name).unlink()
    line = next((x for x in out.splitlines() if x.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary: {out[-2000:]}")
    d = json.loads(line[6:])
    return Load(
        requests=d["requests"],
        bytes=d["bytes"],
        seconds=d["duration_us"] / 1e6,
        p50_ms=d["p50_us"] / 1000,
        p90_ms=d["p90_us"] / 1000,
        p99_ms=d["p99_us"] / 1000,
        errors=d["connect"] + d["read"] + d["write"] + d["timeout"],
        non_2xx=d["status"],
    )


async def _fallback(url: str, connections: int, seconds: float, headers: Sequence[str]) -> Load:
    """Keep-alive HTTP/1.1 GETs over `connections` sockets (or one per request if asked)."""
    hostport, _, path = url.removeprefix("http://").partition("/")
    host, _, port = hostport.partition(":")
    close = any(h.lower().replace(" ", "") == "connection:close" for h in headers)
    extra = "".join(f"{h}\r\n" for h in headers)
    request = f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\n{extra}\r\n".encode()
    latencies: list[float] = []
    totals = {"bytes": 0, "errors": 0, "non_2xx": 0}
    deadline = time.monotonic() + seconds

    async def client() -> None:
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while time.monotonic() < deadline:
            start = time.perf_counter()
            try:
                if conn is None:
                    conn = await asyncio.open_connection(host, int(port))
                reader, writer = conn
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = _content_length(head)
                await reader.readexactly(length)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                totals["errors"] += 1
                conn = None
                continue
            latencies.append(time.perf_counter() - start)
            totals["bytes"] += len(head) + length
            totals["non_2xx"] += int(head[9:12]) >= 400
            if close:
                writer.close()
                conn = None

    started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(connections)))
    elapsed = time.monotonic() - started
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return Load(
        len(latencies), totals["bytes"], elapsed,
        cuts[49] * 1000, cuts[89] * 1000, cuts[98] * 1000,
        totals["errors"], totals["non_2xx"],
    )  # fmt: skip


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0
