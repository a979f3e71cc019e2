"""The HTTP scenarios and the interleaved rounds that run them.

Each run starts a fresh process, checks it answers as expected (200 proxied, 403
when optout blocks), warms up for 2 s unrecorded, then measures. CPU is the
utime+stime delta over the measured part only, divided by requests served.
Rounds rotate the order of the configurations, so a slow minute of the shared
machine does not always land on the same one.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import load
from bench.procs import Registry
from bench.servers import running

GPTBOT = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; "
    "+https://openai.com/gptbot)"
)
BROWSER = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
WARMUP_S = 2.0


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    title: str
    path: str
    connections: int
    headers: tuple[str, ...] = ()
    stream: bool = False  # mitmdump gets stream_large_bodies=1m
    blocked_by_optout: bool = False


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("page_c20", "5 KB HTML, 20 keep-alive connections", "/page", 20),
        Scenario("page_c1", "5 KB HTML, 1 connection (latency)", "/page", 1),
        Scenario(
            "blocked_c20",
            "GPTBot at 20 connections: blocked by optout, proxied by the others",
            "/page",
            20,
            headers=(f"User-Agent: {GPTBOT}",),
            blocked_by_optout=True,
        ),
        Scenario(
            "page_close",
            "5 KB HTML, 20 connections, Connection: close",
            "/page",
            20,
            headers=("Connection: close",),
        ),
        Scenario("big_c20", "10 MiB audio/mpeg, 20 connections", "/big.mp3", 20, stream=True),
    )
}


def run_scenario(
    scenario: Scenario,
    configs: Sequence[str],
    upstream_port: int,
    registry: Registry,
    tree: Path,
    rounds: int,
    seconds: float,
    say: Callable[[str], None],
) -> list[dict[str, Any]]:
    runs = []
    for r in range(rounds):
        order = list(configs[r % len(configs) :]) + list(configs[: r % len(configs)])
        for config in order:
            run = _one_run(scenario, config, upstream_port, registry, tree, seconds)
            run["round"] = r + 1
            runs.append(run)
            say(_line(scenario, run))
    return runs


def _one_run(
    scenario: Scenario,
    config: str,
    upstream_port: int,
    registry: Registry,
    tree: Path,
    seconds: float,
) -> dict[str, Any]:
    headers = scenario.headers or (f"User-Agent: {BROWSER}",)
    with running(config, upstream_port, registry, tree, stream=scenario.stream) as server:
        url = f"http://127.0.0.1:{server.port}{scenario.path}"
        expected = 403 if scenario.blocked_by_optout and config.startswith("optout") else 200
        status = _probe(url, headers)
        load.run(url, scenario.connections, WARMUP_S, headers)
        cpu_before = server.cpu_s()
        measured = load.run(url, scenario.connections, seconds, headers)
        cpu_after = server.cpu_s()
        rss = server.peak_rss_mb()
    run: dict[str, Any] = {"config": config, **measured.as_dict(), "probe_status": status}
    if status != expected:
        run["warning"] = f"expected status {expected}, got {status}"
    if cpu_before is not None and cpu_after is not None:
        run["cpu_s"] = cpu_after - cpu_before
        run["cpu_ms_per_req"] = 1000 * run["cpu_s"] / max(measured.requests, 1)
    run["peak_rss_mb"] = rss
    run.update(server.notes)
    return run


def _probe(url: str, headers: Sequence[str]) -> int:
    """One request before the load, so a misconfigured run is flagged, not measured."""
    fields = dict(h.split(": ", 1) for h in headers if not h.lower().startswith("connection"))
    request = urllib.request.Request(url, headers=fields)
    for _ in range(50):
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()
                return int(response.status)
        except urllib.error.HTTPError as e:
            e.read()
            return int(e.code)
        except OSError:
            time.sleep(0.1)
    return 0


def _line(scenario: Scenario, run: dict[str, Any]) -> str:
    cpu = run.get("cpu_ms_per_req")
    rss = run.get("peak_rss_mb")
    parts = [
        f"  {scenario.name} round {run['round']} {run['config']:<8}",
        f"{run['rps']:9.0f} req/s",
        f"{run['mb_s']:8.1f} MB/s",
        f"p50 {run['p50_ms']:7.2f} ms",
        f"p99 {run['p99_ms']:7.2f} ms",
        f"cpu {cpu:.3f} ms/req" if cpu is not None else "",
        f"rss {rss:.0f} MB" if rss else "",
        f"errors {run['errors']}" if run["errors"] else "",
        run.get("warning", ""),
    ]
    return "  ".join(p for p in parts if p)
