"""`python -m bench.soak [--minutes 10]`: sustained mixed traffic with a reload and a restart.

Not part of `make test`. One proxy (`python -m proxy run` from this tree) in
front of an in-process aiohttp upstream, on loopback, with a fixed port so it
can be restarted under the clients. The traffic mixes browsers, crawlers
verified through a trusted proxy (X-Forwarded-For from their published ranges),
spoofed crawlers, large downloads, robots.txt, an upstream that fails on purpose
(503) and bad requests on raw sockets (414/431, refused before any flow exists
and logged from what was read of the head). A third of the way in, the rules
are reloaded (POST /reload with a token); two thirds in, the proxy is stopped
with SIGTERM and started again on the same log, which is when clients see
connection errors.

Every HTTP request carries a unique `?n=` so the log can be matched exactly.
The report: requests completed versus records logged (target: every completed
request logged), RSS growth of each proxy process after its warm-up (target:
under 10%), and 5xx answers not caused by the injected upstream fault (target:
none). JSON goes to bench/results/soak-<UTC>.json; a table is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import itertools
import json
import os
import random
import re
import secrets
import signal
import socket
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).with_name("results")
BIG = 5 * 1024 * 1024
PAGE = b"<!doctype html><html><head><title>t</title></head><body>" + b"x" * 5000 + b"</body></html>"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
GPTBOT = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
SPOOFER = "203.0.113.9"  # TEST-NET-3: in nobody's published ranges
MIX = {"browser": 50, "verified": 15, "spoofed": 15, "robots": 8, "big": 3, "fault": 4, "bad": 5}


@dataclass
class Tally:
    completed: dict[str, int] = field(default_factory=dict)  # request id -> status
    kinds: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    unexpected_5xx: int = 0
    connection_errors: int = 0
    bad_refused: int = 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def published_address(name: str) -> str:
    """An address inside a crawler's published range (the shipped snapshot)."""
    data = json.loads((ROOT / "rules" / "ipranges" / f"{name}.json").read_text())
    prefix = next(p["ipv4Prefix"] for p in data["prefixes"] if "ipv4Prefix" in p)
    return str(ipaddress.ip_network(prefix)[1])


async def start_upstream() -> tuple[web.AppRunner, str]:
    async def page(request: web.Request) -> web.Response:
        return web.Response(body=PAGE, content_type="text/html")

    async def big(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "audio/mpeg"})
        response.content_length = BIG
        await response.prepare(request)
        chunk = b"\0" * (256 * 1024)
        for _ in range(BIG // len(chunk)):
            await response.write(chunk)
        return response

    async def robots(request: web.Request) -> web.Response:
        return web.Response(text="User-agent: *\nDisallow: /admin/\n", content_type="text/plain")

    async def fault(request: web.Request) -> web.Response:
        return web.Response(status=503, text="injected upstream fault")

    app = web.Application()
    for path, handler in (("/page", page), ("/big.mp3", big), ("/robots.txt", robots)):
        app.router.add_get(path, handler)
    app.router.add_get("/fault", fault)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@dataclass
class ProxyProcess:
    process: asyncio.subprocess.Process
    admin: str
    rss: list[tuple[float, int]] = field(default_factory=list)  # (monotonic, bytes)


async def start_proxy(upstream: str, port: int, work: Path, token: str) -> ProxyProcess:
    env = {
        **os.environ,
        "OPTOUT_UPSTREAM": upstream,
        "OPTOUT_VERIFY_DNS": "off",
        "OPTOUT_WEB_BOT_AUTH": "off",
        "OPTOUT_ADMIN": "127.0.0.1:0",
        "OPTOUT_ADMIN_TOKEN": token,
        "OPTOUT_TRUSTED_PROXIES": "127.0.0.1",
        "OPTOUT_LOG_MAX_BYTES": str(50 * 1024**3),  # one file for the whole soak
        "HOME": str(work),
    }
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "proxy", "run", "--listen", f"127.0.0.1:{port}"),
        *("--rules", str(ROOT / "rules"), "--log", str(work / "access.jsonl")),
        *("--state", str(work / "state")),
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    assert process.stderr is not None
    for _ in range(20):
        line = await asyncio.wait_for(process.stderr.readline(), 30)
        admin = re.search(rb"ready on .* admin (http://[\d.]+:\d+)", line)
        if admin:
            asyncio.get_running_loop().create_task(_drain(process.stderr))
            return ProxyProcess(process, admin.group(1).decode())
    raise RuntimeError("the proxy printed no ready line")


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def sample_rss(current: list[ProxyProcess], stop: asyncio.Event) -> None:
    while not stop.is_set():
        proxy = current[-1]
        if proxy.process.returncode is None:
            try:
                proxy.rss.append((time.monotonic(), rss_bytes(proxy.process.pid)))
            except FileNotFoundError:
                pass
        await asyncio.sleep(2)


def request_for(kind: str, base: str, ids: itertools.count[int]) -> tuple[str, str, dict[str, str]]:
    n = f"{next(ids)}"
    routes = {
        "browser": ("/page", {"user-agent": BROWSER}),
        "verified": random.choice(
            [
                ("/page", {"user-agent": GPTBOT, "x-forwarded-for": VERIFIED["gptbot"]}),
                ("/page", {"user-agent": GOOGLEBOT, "x-forwarded-for": VERIFIED["googlebot"]}),
            ]
        ),
        "spoofed": ("/page", {"user-agent": GOOGLEBOT, "x-forwarded-for": SPOOFER}),
        "robots": ("/robots.txt", {"user-agent": GOOGLEBOT}),
        "big": ("/big.mp3", {"user-agent": BROWSER}),
        "fault": ("/fault", {"user-agent": BROWSER}),
    }
    path, headers = routes[kind]
    return n, f"{base}{path}?n={n}", headers


VERIFIED: dict[str, str] = {}


async def bad_request(port: int, tally: Tally) -> None:
    """An oversized request line or header section on a raw socket: 414 or 431."""
    head = random.choice(
        [
            b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 20000 + b"\r\n\r\n",
        ]
    )
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 30)
        writer.close()
    except (OSError, TimeoutError):
        tally.connection_errors += 1
        return
    if answer[9:12] in (b"414", b"431"):
        tally.bad_refused += 1


async def client(
    base: str, port: int, tally: Tally, ids: itertools.count[int], until: float
) -> None:
    kinds, weights = list(MIX), list(MIX.values())
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while time.monotonic() < until:
            kind = random.choices(kinds, weights)[0]
            tally.kinds[kind] += 1
            if kind == "bad":
                await bad_request(port, tally)
                continue
            n, url, headers = request_for(kind, base, ids)
            try:
                async with session.get(url, headers=headers) as response:
                    await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError):
                tally.connection_errors += 1
                await asyncio.sleep(0.05)  # the proxy is restarting
                continue
            tally.completed[n] = status
            tally.statuses[status] += 1
            if status >= 500 and kind != "fault":
                tally.unexpected_5xx += 1


async def reload_rules(admin: str, token: str) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{admin}/reload", headers={"authorization": f"Bearer {token}"}) as response,
    ):
        body: dict[str, Any] = await response.json()
        return {"status": response.status, **body}


async def stop(proxy: ProxyProcess) -> int:
    proxy.process.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(proxy.process.wait(), 60)


def growth(samples: list[tuple[float, int]], warm_up: float) -> dict[str, Any]:
    """RSS at the end of warm-up, its maximum afterwards and the growth between them."""
    if not samples:
        return {}
    start = samples[0][0]
    after = [rss for t, rss in samples if t - start >= warm_up] or [samples[-1][1]]
    base, peak, last = after[0], max(after), after[-1]
    return {
        "rss_after_warm_up_mb": round(base / 2**20, 1),
        "rss_peak_mb": round(peak / 2**20, 1),
        "rss_last_mb": round(last / 2**20, 1),
        "growth_pct": round(100 * (last - base) / base, 1),
        "peak_growth_pct": round(100 * (peak - base) / base, 1),
    }


def logged_ids(log: Path) -> tuple[Counter[str], int]:
    """How often each request (by its `n=`) was logged, and how many refused heads were."""
    seen: Counter[str] = Counter()
    refused = 0
    for line in log.read_text().splitlines():
        record = json.loads(line)
        query = record.get("url", {}).get("query", "")
        if query.startswith("n="):
            seen[query[2:]] += 1
        elif record.get("http", {}).get("response", {}).get("status_code") in (414, 431):
            refused += 1
    return seen, refused


async def soak(minutes: float, concurrency: int) -> dict[str, Any]:
    VERIFIED.update(
        gptbot=published_address("openai-gptbot"), googlebot=published_address("googlebot")
    )
    duration = minutes * 60
    warm_up = min(60.0, duration / 6)
    runner, upstream = await start_upstream()
    port, token = free_port(), secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="optout-soak-") as tmp:
        work = Path(tmp)
        proxies = [await start_proxy(upstream, port, work, token)]
        tally, ids, done = Tally(), itertools.count(), asyncio.Event()
        started = time.monotonic()
        until = started + duration
        sampler = asyncio.create_task(sample_rss(proxies, done))
        base = f"http://127.0.0.1:{port}"
        clients = [
            asyncio.create_task(client(base, port, tally, ids, until)) for _ in range(concurrency)
        ]
        events: list[dict[str, Any]] = []
        await asyncio.sleep(duration / 3)
        events.append(
            {
                "at_s": round(time.monotonic() - started),
                "reload": await reload_rules(proxies[-1].admin, token),
            }
        )
        await asyncio.sleep(duration / 3)
        code = await stop(proxies[-1])
        proxies.append(await start_proxy(upstream, port, work, token))
        events.append({"at_s": round(time.monotonic() - started), "restart": {"exit_code": code}})
        await asyncio.gather(*clients)
        final_exit = await stop(proxies[-1])
        done.set()
        await sampler
        seen, refused_logged = logged_ids(work / "access.jsonl")
    await runner.cleanup()
    missing = [n for n in tally.completed if n not in seen]
    return {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "minutes": minutes,
        "concurrency": concurrency,
        "requests_completed": len(tally.completed),
        "records_logged": sum(seen.values()),
        "completed_not_logged": len(missing),
        "logged_twice": sum(1 for c in seen.values() if c > 1),
        "unexpected_5xx": tally.unexpected_5xx,
        "injected_fault_5xx": tally.statuses.get(503, 0) - tally.unexpected_5xx,
        "connection_errors": tally.connection_errors,
        "bad_requests_refused": tally.bad_refused,
        "bad_requests_logged": refused_logged,
        "statuses": dict(sorted(tally.statuses.items())),
        "kinds": dict(tally.kinds),
        "events": events,
        "final_exit_code": final_exit,
        "rss": [growth(p.rss, warm_up) for p in proxies],
        "warm_up_s": warm_up,
    }


def table(result: dict[str, Any]) -> str:
    rows = [
        ("requests completed (HTTP answer received)", result["requests_completed"]),
        ("records logged for them", result["records_logged"]),
        ("completed but not logged (target 0)", result["completed_not_logged"]),
        ("5xx not from the injected fault (target 0)", result["unexpected_5xx"]),
        ("503 from the injected upstream fault", result["injected_fault_5xx"]),
        ("connection errors (restart window)", result["connection_errors"]),
        ("bad requests refused (414/431)", result["bad_requests_refused"]),
        ("refused requests logged", result["bad_requests_logged"]),
    ]
    for i, rss in enumerate(result["rss"], 1):
        if rss:
            rows.append(
                (
                    f"proxy {i} RSS after warm-up -> last (peak), MB",
                    f"{rss['rss_after_warm_up_mb']} -> {rss['rss_last_mb']} ({rss['rss_peak_mb']})",
                )
            )
            rows.append((f"proxy {i} RSS growth, % (target < 10)", rss["growth_pct"]))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    result = asyncio.run(soak(args.minutes, args.concurrency))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"soak-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(table(result))
    print(f"\nJSON: {out}")
    ok = result["completed_not_logged"] == 0 and result["unexpected_5xx"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
