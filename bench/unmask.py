"""`python -m bench.unmask [--rounds 5] [--duration 10]`: what issue 16's checks cost.

The full pipeline (`python -m proxy run` from a snapshot of the tree, the shipped
rules, a file access log) serves a 5 KB page at 20 keep-alive connections, with
and without the checks that see through the user agent, in interleaved rounds
(the order alternates), a fresh process per run, after a 2 s warm-up. Reported:
pages/s of each, and the median of without/with ratios per round.

"without" is the same proxy started through this module with `--without-checks`
(never a user-facing setting): the Fingerprint and Trap addons are left out of
the chain (no JA4, client family, consistency signals, trap or flags, no trap
link in pages) and the network lookup answers None (no `optout.network`, no
`undeclared`), as before issue 16. Each run's log is checked: "with" records carry
`optout.network`, "without" records do not.

Two loads, both through `--trusted-proxies 127.0.0.1/32` with a Chrome user agent:
- `returning`: one client address in X-Forwarded-For (the network lookup is a
  dict hit, as for a client that comes back);
- `rotating`: a new random IPv4 address for every request (wrk's Lua `request`),
  so every lookup misses the cache: a crawler rotating through networks.

JSON goes to bench/results/unmask-<UTC>.json; a table is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import load, tools
from bench.procs import Registry, usage, wait_for_port
from bench.scenarios import BROWSER, WARMUP_S, _probe
from bench.servers import ROOT, _wait_for_ready, describe, snapshot

RESULTS = Path(__file__).with_name("results")
CONFIGS = ("with", "without")
CHILD_FLAG = "--without-checks"
# A residential-looking address in no list (TEST-NET-3 would be "documentation").
RETURNING = "81.2.69.142"
ROTATING_LUA = """
math.randomseed(16)
local base = {}
for name, value in pairs(wrk.headers) do base[name] = value end
request = function()
  base["X-Forwarded-For"] = string.format("%d.%d.%d.%d",
    math.random(1, 223), math.random(0, 255), math.random(0, 255), math.random(1, 254))
  return wrk.format(nil, nil, base)
end
"""
LOADS = {
    "returning": (f"X-Forwarded-For: {RETURNING}", ""),
    "rotating": (f"X-Forwarded-For: {RETURNING}", ROTATING_LUA),
}


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def without_checks(argv: list[str]) -> int:
    """`optout` with the pipeline of before issue 16 (this module's child process)."""
    import addons
    from addons.fingerprint import Fingerprint
    from addons.trap import Trap
    from proxy.cli.main import main
    from proxy.identity.networks import Networks

    chain = addons.default_addons

    def unmasked(pipeline: Any) -> list[Any]:
        return [a for a in chain(pipeline) if not isinstance(a, Fingerprint | Trap)]

    addons.default_addons = unmasked  # Chain.pipeline looks it up at each (re)load
    Networks.lookup = lambda self, ip: None  # type: ignore[assignment,method-assign,return-value]
    return main(argv)


@contextmanager
def _proxy(config: str, upstream: int, registry: Registry, tree: Path) -> Iterator[tuple[int, Any]]:
    workdir = Path(tempfile.mkdtemp(prefix=f"optout-bench-unmask-{config}-"))
    command = ["-m", "proxy"] if config == "with" else ["-m", "bench.unmask", CHILD_FLAG]
    argv = [
        sys.executable,
        *command,
        "run",
        "--upstream",
        f"http://127.0.0.1:{upstream}",
        "--listen",
        "127.0.0.1:0",
        "--rules",
        str(tree / "rules"),
        "--log",
        str(workdir / "access.jsonl"),
        "--state",
        str(workdir / "state"),
        "--trusted-proxies",
        "127.0.0.1/32",
    ]
    # The snapshot's proxy/ and addons/ come first (the working directory), then bench/.
    env = {**os.environ, "HOME": str(workdir), "OPTOUT_ADMIN": "off", "PYTHONPATH": str(ROOT)}
    log = workdir / "stderr.log"
    proc = registry.start(argv, env=env, log=log, cwd=tree)
    try:
        port = _wait_for_ready(log, proc)
        wait_for_port(port, proc)
        yield port, proc
        registry.stop(proc)  # writes every queued record
        _check_log(config, workdir / "access.jsonl")
    finally:
        registry.stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


def _check_log(config: str, records: Path) -> None:
    """The configuration measured is the one named: the checks ran, or did not."""
    with records.open(encoding="utf-8") as f:
        first = json.loads(f.readline())
    has_network = "network" in first.get("optout", {})
    if has_network != (config == "with"):
        raise RuntimeError(f"{config}: a record {'lacks' if has_network else 'has'} the network")


def _one_run(
    config: str, name: str, upstream: int, registry: Registry, tree: Path, seconds: float
) -> dict[str, Any]:
    header, lua = LOADS[name]
    headers = (f"User-Agent: {BROWSER}", header)
    with _proxy(config, upstream, registry, tree) as (port, proc):
        url = f"http://127.0.0.1:{port}/page"
        status = _probe(url, headers)
        if status != 200:
            raise RuntimeError(f"{config}: the probe got {status}, not 200")
        load.run(url, 20, WARMUP_S, headers, lua)
        before = usage(proc.pid).cpu_s
        measured = load.run(url, 20, seconds, headers, lua)
        cpu = usage(proc.pid).cpu_s - before
    return {
        "config": config,
        "load": name,
        **measured.as_dict(),
        "cpu_ms_per_req": 1000 * cpu / max(measured.requests, 1),
    }


def run(rounds: int, seconds: float, names: list[str]) -> dict[str, Any]:
    notes = tools.ensure(say)
    if not load.have_wrk():
        raise SystemExit("bench.unmask needs wrk (the rotating load is a wrk Lua script)")
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "revision": describe(None),
        "machine": tools.machine(),
        "settings": {"rounds": rounds, "duration_s": seconds, "connections": 20},
        "notes": notes,
        "loads": {},
    }
    registry = Registry()
    tree = snapshot(None)
    try:
        upstream_proc = registry.start(
            [sys.executable, "-m", "bench.upstream", "0"], capture=True, cwd=ROOT
        )
        assert upstream_proc.stdout is not None
        upstream = int(upstream_proc.stdout.readline() or b"0")
        for name in names:
            runs = []
            for r in range(rounds):
                order = CONFIGS if r % 2 == 0 else CONFIGS[::-1]
                for config in order:
                    run = _one_run(config, name, upstream, registry, tree, seconds)
                    run["round"] = r + 1
                    runs.append(run)
                    say(
                        f"  {name} round {r + 1} {config:<7} {run['rps']:7.0f} pages/s"
                        f"  cpu {run['cpu_ms_per_req']:.3f} ms/page"
                        + (f"  errors {run['errors']}" if run["errors"] else "")
                    )
            results["loads"][name] = {"runs": runs, "summary": summarise(runs)}
    finally:
        registry.close_all()
        shutil.rmtree(tree, ignore_errors=True)
    results["machine"]["loadavg_end"] = os.getloadavg()[0]
    return results


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians per configuration, and the median of the per-round ratios."""
    by = {c: [r for r in runs if r["config"] == c] for c in CONFIGS}
    ratios = [
        w["rps"] / wo["rps"] for w, wo in zip(by["with"], by["without"], strict=True) if wo["rps"]
    ]
    cpu = [
        w["cpu_ms_per_req"] / wo["cpu_ms_per_req"]
        for w, wo in zip(by["with"], by["without"], strict=True)
        if wo["cpu_ms_per_req"]
    ]
    return {
        **{f"{c}_rps": statistics.median(r["rps"] for r in by[c]) for c in CONFIGS},
        **{f"{c}_cpu_ms": statistics.median(r["cpu_ms_per_req"] for r in by[c]) for c in CONFIGS},
        "with_over_without": statistics.median(ratios),
        "ratio_range": [min(ratios), max(ratios)],
        "cpu_with_over_without": statistics.median(cpu),
    }


def table(results: dict[str, Any]) -> str:
    lines = [
        "| load | with checks | without | with / without (range) | CPU per page (ratio) |",
        "| --- | ---: | ---: | --- | --- |",
    ]
    for name, data in results["loads"].items():
        s = data["summary"]
        low, high = s["ratio_range"]
        lines.append(
            f"| {name} | {s['with_rps']:,.0f} pages/s | {s['without_rps']:,.0f} pages/s "
            f"| {s['with_over_without']:.3f} ({low:.3f}–{high:.3f}) "
            f"| {s['with_cpu_ms']:.3f} / {s['without_cpu_ms']:.3f} ms "
            f"({s['cpu_with_over_without']:.3f}) |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [CHILD_FLAG]:
        return without_checks(argv[1:])
    parser = argparse.ArgumentParser(
        prog="python -m bench.unmask", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds per load (default 5)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per run")
    parser.add_argument("loads", nargs="*", help=f"any of {', '.join(LOADS)} (default: both)")
    args = parser.parse_args(argv)
    if unknown := set(args.loads) - set(LOADS):
        parser.error(f"unknown load(s): {', '.join(sorted(unknown))}")
    results = run(args.rounds, args.duration, args.loads or list(LOADS))
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"unmask-{stamp}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    say(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
