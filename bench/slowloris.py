"""`python -m bench.slowloris [--seconds 60]`: a slow-headers attack while a client keeps asking.

Not part of `make test`. For each configuration (optout, and plain mitmdump and
nginx as the baselines of the same run), one process is started limited to
1,024 descriptors (`prlimit`, and `worker_rlimit_nofile` for nginx) in front of
one aiohttp upstream. `slowhttptest -H -c 1100` (slow headers, 1,100
connections, a header line every 10 s) runs against it for `--seconds`, while a
probe sends a whole GET on a new connection every 0.25 s (5 s timeout). The
report: probes answered 200 out of those sent (the target for optout is at
least 95%), their p50 and p99 latency, whether the admin port (optout) still
answered, and the attack's own count of connections. JSON goes to
bench/results/slowloris-<UTC>.json; a table is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench.servers import TEMPLATE
from bench.upstream import make_page

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).with_name("results")
NOFILE = 1024
CONNECTIONS = 1100
PROBE_EVERY = 0.25


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_upstream() -> tuple[web.AppRunner, int]:
    page_body = make_page()

    async def page(request: web.Request) -> web.Response:
        return web.Response(body=page_body, content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, int(runner.addresses[0][1])


def launch(name: str, upstream: int, work: Path) -> tuple[subprocess.Popen[bytes], int, int | None]:
    """The configuration's process, its port and (optout) its admin port."""
    port, admin = free_port(), None
    limit = ["prlimit", f"--nofile={NOFILE}:{NOFILE}"]
    log = (work / "stderr.log").open("wb")
    if name == "optout":
        admin = free_port()
        argv = [
            *(sys.executable, "-m", "proxy", "run", "--upstream", f"http://127.0.0.1:{upstream}"),
            *("--listen", f"127.0.0.1:{port}", "--admin", f"127.0.0.1:{admin}"),
            *("--log", str(work / "access.jsonl"), "--state", str(work / "state")),
        ]
        env = {**os.environ, "HOME": str(work), "OPTOUT_VERIFY_DNS": "off"}
        proc = subprocess.Popen([*limit, *argv], stdout=log, stderr=log, cwd=ROOT, env=env)
    elif name == "mitmdump":
        mitmdump = Path(sys.executable).with_name("mitmdump")
        argv = [str(mitmdump), "--mode", f"reverse:http://127.0.0.1:{upstream}@127.0.0.1:{port}"]
        argv += ["-q", "--set", "flow_detail=0", "--set", "connection_strategy=lazy"]
        proc = subprocess.Popen(
            [*limit, *argv], stdout=log, stderr=log, env={**os.environ, "HOME": str(work)}
        )
    else:
        proc = subprocess.Popen([*limit, *nginx_argv(upstream, port, work)], stdout=log, stderr=log)
    wait_for(port)
    return proc, port, admin


def nginx_argv(upstream: int, port: int, work: Path) -> list[str]:
    work.chmod(0o755)
    for sub in ("client", "proxy", "fastcgi", "uwsgi", "scgi"):
        (work / "tmp" / sub).mkdir(parents=True, exist_ok=True)
        (work / "tmp" / sub).chmod(0o777)
    text = TEMPLATE.read_text().replace(
        "worker_processes 1;", f"worker_processes 1;\nworker_rlimit_nofile {NOFILE};"
    )
    for key, value in {
        "DIR": work,
        "SERVERS": f"server 127.0.0.1:{upstream};",
        "PORT": port,
    }.items():
        text = text.replace("{{" + key + "}}", str(value))
    (work / "nginx.conf").write_text(text)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    return [nginx, "-p", str(work), "-e", str(work / "error.log"), "-c", str(work / "nginx.conf")]


def wait_for(port: int, seconds: float = 30) -> None:
    import socket

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


async def probe(url: str, admin: str | None, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    sent = ok = admin_ok = admin_sent = 0
    timeout = aiohttp.ClientTimeout(total=5)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sent += 1
        started = time.monotonic()
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                async with session.get(url, headers={"Connection": "close"}) as response:
                    await response.read()
                    ok += response.status == 200
                    latencies.append(time.monotonic() - started)
                if admin is not None and sent % 8 == 0:
                    admin_sent += 1
                    async with session.get(f"{admin}/healthz") as health:
                        admin_ok += health.status == 200
        except (aiohttp.ClientError, TimeoutError):
            pass
        await asyncio.sleep(max(0.0, PROBE_EVERY - (time.monotonic() - started)))
    latencies.sort()
    pick = (
        (lambda q: round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 1))
        if latencies
        else (lambda q: None)
    )
    return {
        "probes": sent,
        "answered_200": ok,
        "success": round(ok / sent, 4) if sent else 0.0,
        "p50_ms": pick(0.50),
        "p99_ms": pick(0.99),
        "admin_healthz": f"{admin_ok}/{admin_sent}" if admin is not None else None,
    }


async def run(name: str, seconds: int, work: Path, upstream: int) -> dict[str, Any]:
    proc, port, admin = launch(name, upstream, work)
    url = f"http://127.0.0.1:{port}/page"
    attack = await asyncio.create_subprocess_exec(
        "slowhttptest",
        "-H",
        "-c",
        str(CONNECTIONS),
        "-i",
        "10",
        "-r",
        "200",
        "-l",
        str(seconds),
        "-u",
        url,
        "-p",
        "3",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    await asyncio.sleep(3)  # the attack ramps up first
    result = await probe(url, f"http://127.0.0.1:{admin}" if admin else None, seconds - 5)
    out, _ = await attack.communicate()
    proc.terminate()
    proc.wait(20)
    text = out.decode(errors="replace")
    result["attack_connected_peak"] = max(
        (
            int(line.split()[-1])
            for line in text.splitlines()
            if "connected:" in line and line.split()[-1].isdigit()
        ),
        default=None,
    )
    result["config"] = name
    return result


async def main(configs: list[str], seconds: int) -> list[dict[str, Any]]:
    runner, upstream = await start_upstream()
    results = []
    try:
        for name in configs:
            with tempfile.TemporaryDirectory(prefix=f"slowloris-{name}-") as tmp:
                print(f"slowloris: {name} for {seconds} s ...", file=sys.stderr, flush=True)
                results.append(await run(name, seconds, Path(tmp), upstream))
    finally:
        await runner.cleanup()
    return results


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| config | probes | answered 200 | success | p50 ms | p99 ms | admin /healthz |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r['config']} | {r['probes']} | {r['answered_200']} | {r['success']:.1%} | "
            f"{r['p50_ms']} | {r['p99_ms']} | {r['admin_healthz'] or '-'} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="python -m bench.slowloris", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--configs", nargs="+", default=["optout", "mitmdump", "nginx"])
    args = parser.parse_args()
    if shutil.which("slowhttptest") is None:
        sys.exit("slowloris: slowhttptest is not installed (apt-get install slowhttptest)")
    found = asyncio.run(main(args.configs, args.seconds))
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"slowloris-{stamp}.json").write_text(json.dumps(found, indent=2) + "\n")
    print(table(found))
