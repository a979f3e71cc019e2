"""`python -m bench.workers`: one worker against two (`optout run --workers 2`), same run.

Blocked GPTBot requests (the proxy answers 403 itself: the proxy's own ceiling)
and 5 KB pages (through the single-process aiohttp upstream) at 20 keep-alive
connections, with `--workers 1` and `--workers 2` alternating in each round, a
fresh proxy per run, 2 s of warm-up, then the measured run (wrk, as bench/load.py).
Reported: requests/s per configuration (median of the rounds), the ratio 2/1, and
requests per CPU-second of the proxy's processes (supervisor and workers), which is
what one core serves and projects to N dedicated cores. wrk and the upstream share
the machine's cores with the workers, so the ratio on a 2-core machine is a floor.

    python -m bench.workers [--rounds 3] [--duration 10]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import load, tools
from bench.procs import Registry, _stat_fields, wait_for_port
from bench.scenarios import BROWSER, GPTBOT, WARMUP_S, _probe
from bench.servers import _READY, ROOT, describe, snapshot

RESULTS = Path(__file__).with_name("results")
CONNECTIONS = 20
CASES = {
    "blocked": (f"User-Agent: {GPTBOT}",),
    "page": (f"User-Agent: {BROWSER}",),
}
READY_WITHIN = 120.0


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def family(pid: int) -> list[int]:
    """`pid` and its children (the supervisor's workers run in their own process groups)."""
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return [pid]
    return [pid, *(int(k) for k in kids)]


def cpu_s(pid: int) -> float:
    total = 0.0
    for member in family(pid):
        stat = _stat_fields(member)
        if stat is not None:
            total += (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    return total


def start(workers: int, upstream: int, tree: Path, registry: Registry, workdir: Path) -> Any:
    argv = [sys.executable, "-m", "proxy", "run", "--upstream", f"http://127.0.0.1:{upstream}"]
    argv += ["--listen", "127.0.0.1:0", "--rules", str(tree / "rules"), "--workers", str(workers)]
    argv += ["--log", str(workdir / "access.jsonl"), "--state", str(workdir / "state")]
    env = {**os.environ, "HOME": str(workdir), "OPTOUT_ADMIN": "off"}
    log = workdir / "stderr.log"
    proc = registry.start(argv, env=env, log=log, cwd=tree)
    deadline = time.monotonic() + READY_WITHIN
    while not (found := _READY.search(log.read_bytes())):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"optout --workers {workers} did not start: {log.read_text()}")
        time.sleep(0.1)
    port = int(found.group(1))
    wait_for_port(port, proc)
    return proc, port


def one_run(
    case: str, workers: int, upstream: int, tree: Path, registry: Registry, seconds: float
) -> dict[str, Any]:
    headers = CASES[case]
    workdir = Path(tempfile.mkdtemp(prefix=f"optout-bench-w{workers}-"))
    try:
        proc, port = start(workers, upstream, tree, registry, workdir)
        url = f"http://127.0.0.1:{port}/page"
        status = _probe(url, headers)
        load.run(url, CONNECTIONS, WARMUP_S, headers)
        before = cpu_s(proc.pid)
        measured = load.run(url, CONNECTIONS, seconds, headers)
        used = cpu_s(proc.pid) - before
        registry.stop(proc, timeout=60)
        logs = sorted(workdir.glob("access*.jsonl"))
        per_file = [len(p.read_bytes().splitlines()) for p in logs]  # how evenly they shared
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    expected = 403 if case == "blocked" else 200
    run = {"case": case, "workers": workers, **measured.as_dict(), "probe_status": status}
    run.update(cpu_s=used, per_cpu_second=measured.requests / used if used else None)
    run.update(log_files=len(logs), log_records=sum(per_file), records_per_file=per_file)
    if status != expected:
        run["warning"] = f"expected status {expected}, got {status}"
    return run


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for case in CASES:
        row: dict[str, Any] = {}
        for workers in (1, 2):
            mine = [r for r in runs if r["case"] == case and r["workers"] == workers]
            row[f"rps_{workers}"] = statistics.median(r["rps"] for r in mine)
            per = [r["per_cpu_second"] for r in mine if r["per_cpu_second"]]
            row[f"per_cpu_second_{workers}"] = statistics.median(per) if per else None
            row[f"errors_{workers}"] = sum(r["errors"] for r in mine)
        row["ratio"] = row["rps_2"] / row["rps_1"]
        table[case] = row
    return table


def markdown(table: dict[str, Any], results: dict[str, Any]) -> str:
    lines = [
        f"`python -m bench.workers` at {results['revision']}, {results['started']}, "
        f"{results['rounds']} rounds of {results['duration_s']:g} s, wrk -c{CONNECTIONS}, "
        f"load average {results['loadavg_start']:.1f} at the start",
        "",
        "| case | 1 worker req/s | 2 workers req/s | ratio | req per proxy CPU-s, 1 / 2 |",
        "|---|---|---|---|---|",
    ]
    for case, row in table.items():
        per = f"{row['per_cpu_second_1'] or 0:,.0f} / {row['per_cpu_second_2'] or 0:,.0f}"
        lines.append(
            f"| {case} | {row['rps_1']:,.0f} | {row['rps_2']:,.0f} | {row['ratio']:.2f}x | {per} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.workers", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per run")
    args = parser.parse_args(argv)
    notes = tools.ensure(say)
    registry = Registry()
    tree = snapshot(None)
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "revision": describe(None),
        "machine": tools.machine(),
        "loadavg_start": os.getloadavg()[0],
        "rounds": args.rounds,
        "duration_s": args.duration,
        "notes": notes,
        "runs": [],
    }
    try:
        upstream = registry.start(
            [sys.executable, "-m", "bench.upstream", "0"], capture=True, cwd=ROOT
        )
        assert upstream.stdout is not None
        port = int(upstream.stdout.readline() or b"0")
        for r in range(args.rounds):
            for case in CASES:
                order = (1, 2) if r % 2 == 0 else (2, 1)  # interleaved: drift hits both
                for workers in order:
                    run = one_run(case, workers, port, tree, registry, args.duration)
                    run["round"] = r + 1
                    results["runs"].append(run)
                    say(
                        f"  round {r + 1} {case:<8} workers {workers}: {run['rps']:8.0f} req/s, "
                        f"{run['per_cpu_second'] or 0:7.0f} req/CPU-s, errors {run['errors']}"
                        + (f"  {run['warning']}" if "warning" in run else "")
                    )
    finally:
        registry.close_all()
        shutil.rmtree(tree, ignore_errors=True)
    results["loadavg_end"] = os.getloadavg()[0]
    results["summary"] = summarise(results["runs"])
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"workers-{stamp}.json").write_text(json.dumps(results, indent=2) + "\n")
    text = markdown(results["summary"], results)
    (RESULTS / "workers-latest.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
