"""`python -m bench [SCENARIO ...] [--rounds N] [--duration S]`: run the benchmark suite.

With no scenario, all of them run. The upstream starts once; every HTTP run
starts a fresh process of each configuration. Every raw run goes to
bench/results/<UTC timestamp>.json; the tables go to bench/results/latest.md
(for the README) when the whole suite ran, else beside the JSON. Every child
process is stopped on exit, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from bench import load, report, tools
from bench.procs import Registry
from bench.scenarios import SCENARIOS, run_scenario
from bench.servers import CONFIGS, DEFAULT_CONFIGS, ROOT, describe, snapshot

MICRO = ("classifier", "logwriter", "log_summary_1m", "networks", "media", "score")
MICRO += ("challenge",)
RESULTS = Path(__file__).with_name("results")
_NOTES = {
    "blocked_c20": "optout answers the GPTBot request with its own 403; mitmdump, nginx "
    "and direct proxy or serve it (200), as issue 9 compares them.",
    "big_c20": "mitmdump runs with stream_large_bodies=1m; nginx keeps its default "
    "proxy_buffering (10 MB bodies are buffered to temporary files, as in the engine notes).",
}


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    unknown = [name for name in args.scenario if name not in (*SCENARIOS, *MICRO)]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    chosen = args.scenario or [*SCENARIOS, *MICRO]
    signal.signal(signal.SIGTERM, _exit_on_signal)
    notes = tools.ensure(say)
    configs = [c for c in args.configs if c != "nginx" or tools._which("nginx")]
    if args.rounds < 3:
        notes.append(f"only {args.rounds} round(s): issue 9 asks for at least 3")
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": tools.machine(),
        "settings": {"rounds": args.rounds, "duration_s": args.duration, "configs": configs},
        "load_generator": "wrk" if load.have_wrk() else "python fallback",
        "notes": notes,
        "scenarios": {},
        "micro": {},
    }
    registry = Registry()
    tree = snapshot(args.ref)
    results["revision"] = describe(args.ref)
    status = 0
    try:
        http = [name for name in chosen if name in SCENARIOS]
        if http:
            _run_http(http, configs, registry, tree, args, results)
        _run_micro([name for name in chosen if name in MICRO], tree, results)
    except KeyboardInterrupt:
        say("interrupted; writing what was measured so far")
        results["notes"].append("interrupted: some scenarios are missing")
        status = 130
    finally:
        registry.close_all()
        shutil.rmtree(tree, ignore_errors=True)
    results["machine"]["loadavg_end"] = os.getloadavg()[0]
    results["targets"] = report.targets(results)
    _write(results, complete=not args.scenario and status == 0)
    return status


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "scenario",
        nargs="*",
        metavar="SCENARIO",
        help=f"any of: {', '.join([*SCENARIOS, *MICRO])} (default: all)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds per scenario (default 3)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per run")
    parser.add_argument(
        "--ref",
        help="git revision to measure (default: the working tree as it is at the start)",
    )
    parser.add_argument(
        "--configs",
        nargs="+",
        choices=CONFIGS,
        default=list(DEFAULT_CONFIGS),
        help=f"configurations to run (default: {' '.join(DEFAULT_CONFIGS)})",
    )
    return parser


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds through every finally, which stops the children


def _failed(name: str, results: dict[str, Any]) -> None:
    """One broken scenario must not cost the others' figures: note it and go on."""
    say(f"{name} failed:\n{traceback.format_exc()}")
    results["notes"].append(f"{name} failed: {traceback.format_exc(limit=0).strip()}")


def _run_http(
    names: list[str],
    configs: list[str],
    registry: Registry,
    tree: Path,
    args: Any,
    results: dict[str, Any],
) -> None:
    upstream = registry.start([sys.executable, "-m", "bench.upstream", "0"], capture=True, cwd=ROOT)
    assert upstream.stdout is not None
    port = int(upstream.stdout.readline() or b"0")
    if not port:
        raise RuntimeError("the upstream did not start")
    say(f"upstream on 127.0.0.1:{port}; configurations: {', '.join(configs)}")
    for name in names:
        scenario = SCENARIOS[name]
        say(f"{name}: {scenario.title}")
        try:
            runs = run_scenario(
                scenario, configs, port, registry, tree, args.rounds, args.duration, say
            )
        except Exception:
            _failed(name, results)
            continue
        summary = report.summarise(runs)
        results["scenarios"][name] = {
            "title": scenario.title,
            "runs": runs,
            "summary": summary,
            "ratios": report.ratios(summary),
            "notes": [_NOTES[name]] if name in _NOTES else [],
        }
        if name == "big_c20" and "nginx" in configs:
            warnings = sum(r.get("temp_file_warnings", 0) for r in runs if r["config"] == "nginx")
            results["scenarios"][name]["notes"].append(
                f"nginx logged {warnings} 'buffered to a temporary file' warnings over all rounds."
            )


def _run_micro(names: list[str], tree: Path, results: dict[str, Any]) -> None:
    """In this process, with the snapshot's `proxy` package ahead of the working tree's."""
    sys.path.insert(0, str(tree))
    from bench import challenge as challenge_bench
    from bench import logbench, logsummary, micro, networks
    from bench import media as media_bench
    from bench import score as score_bench

    rules = tree / "rules"
    for name in names:
        say(f"{name} ...")
        start = time.monotonic()
        try:
            if name == "classifier":
                results["micro"][name] = micro.classifier(rules)
            elif name == "logwriter":
                results["micro"][name] = logbench.logwriter(rules)
            elif name == "networks":
                results["micro"][name] = networks.networks(rules)
            elif name == "media":
                results["micro"][name] = media_bench.run()
            elif name == "score":
                results["micro"][name] = score_bench.score(rules)
            elif name == "challenge":
                results["micro"][name] = challenge_bench.cpu()
            else:
                results["micro"][name] = logsummary.run()
        except Exception:
            _failed(name, results)
            continue
        say(f"{name}: {time.monotonic() - start:.1f} s")


def _write(results: dict[str, Any], *, complete: bool) -> None:
    """Raw JSON and tables per run; latest.md (for the README) only from a complete suite."""
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    raw = RESULTS / f"{stamp}.json"
    raw.write_text(json.dumps(results, indent=2) + "\n")
    markdown = _markdown(results, raw.name)
    tables = RESULTS / ("latest.md" if complete else f"{stamp}.md")
    tables.write_text(markdown)
    print(markdown)
    say(f"wrote {raw.relative_to(ROOT)} and {tables.relative_to(ROOT)}")


def _markdown(results: dict[str, Any], raw: str) -> str:
    settings = results["settings"]
    parts = [
        f"## Benchmarks ({results['started']})",
        "",
        f"Revision: {results['revision']}. Machine: {report.machine_line(results['machine'])}.",
        "",
        f"{settings['rounds']} interleaved rounds of {settings['duration_s']:g} s per "
        f"configuration after a 2 s warm-up, a fresh proxy process per run, load from "
        f"{results['load_generator']} on the same machine. Medians (min–max); ratios are "
        f"optout / baseline medians of this run. Raw runs: `bench/results/{raw}`.",
        "",
        *(f"Note: {n}\n" for n in results["notes"]),
        report.targets_table(results["targets"]),
    ]
    for name, data in results["scenarios"].items():
        parts.append(report.http_table(data["title"], name, data))
    for name, data in results["micro"].items():
        parts.append(report.micro_table(name, data))
    return "\n".join(parts)


if __name__ == "__main__":
    sys.exit(main())
