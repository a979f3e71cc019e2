"""`python -m bench.review [--records N ...] [--only CMD ...]`: the review commands at scale.

Issue 19: on one million records (a month in 30 daily files, 29 gzipped, from
bench.logsummary's generator) each of `logs summary`, `logs violations`, `logs
report`, `logs search`, `evidence`, `logs verify` and `replay` runs as a user
runs it, `python -m proxy ...` in a child process, and is measured by wall time
and peak RSS (the child's own `ru_maxrss`, from wait4). The baseline measured
in the same run is the floor any reader pays: one process that only decompresses
and counts the lines of the same files. With two record counts, the time ratio
shows whether the commands grow linearly.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.logsummary import write_log
from proxy.evidence.chain import HEAD_FILE, Head, digest, save_head
from proxy.evidence.logfiles import last_line, sequence_of

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {  # seconds, at one million records; RSS target for all: 300 MB
    "summary": 5.0,
    "violations": 5.0,
    "report": 5.0,
    "search": 5.0,
    "evidence": 5.0,
    "verify": 10.0,
    "replay": 15.0,
}
RSS_TARGET_MB = 300.0
_FLOOR = (
    "import gzip, sys\n"
    "n = 0\n"
    "for name in sys.argv[1:]:\n"
    "    opener = gzip.open if name.endswith('.gz') else open\n"
    "    with opener(name, 'rb') as f:\n"
    "        while chunk := f.read(1 << 20):\n"
    "            n += chunk.count(b'\\n')\n"
    "print(n)\n"
)


def commands(log: Path, state: Path, out: Path) -> dict[str, list[str]]:
    """Each command as a user types it (FILES left to --log, as the proxy writes them)."""
    rules = str(ROOT / "rules")
    common = ["--log", str(log)]
    return {
        "summary": ["logs", "summary", *common],
        "violations": ["logs", "violations", *common, "--state", str(state), "--rules", rules],
        "report": ["logs", "report", *common, "--state", str(state), "--rules", rules]
        + ["--out", str(out / "report.html")],
        "search": ["logs", "search", *common, "--agent", "CCBot", "--path", "/releases/"],
        "evidence": ["evidence", "--agent", "CCBot", *common, "--state", str(state)]
        + ["--out", str(out / "bundle.zip")],
        "verify": ["logs", "verify", *common, "--state", str(state)],
        "replay": ["replay", str(log), "--rules", rules],
    }


# The command runs under this small launcher, which reports the command's peak RSS
# (RUSAGE_CHILDREN) and CPU time: a child forked straight from this process would
# count this process's own memory, which holds the generated log, in its peak.
_LAUNCH = (
    "import json, resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[2:])\n"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "open(sys.argv[1], 'w').write(json.dumps([code, u.ru_maxrss, u.ru_utime + u.ru_stime]))\n"
)


def measure(argv: list[str]) -> dict[str, Any]:
    """Run a command to its end: wall and CPU seconds, its peak RSS in MB, exit status."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "usage.json"
        started = time.perf_counter()
        with (Path(tmp) / "out").open("wb") as out, (Path(tmp) / "err").open("wb") as err:
            subprocess.run(
                [sys.executable, "-c", _LAUNCH, str(report), *argv],
                stdout=out,
                stderr=err,
                cwd=ROOT,
                check=False,
            )
        took = time.perf_counter() - started
        code, maxrss, cpu = json.loads(report.read_text())
        tail = (Path(tmp) / "err").read_text(errors="replace").strip().splitlines()[-3:]
        return {
            "s": round(took, 2),
            "cpu_s": round(cpu, 2),
            "rss_mb": round(maxrss / 1024, 1),  # Linux: kilobytes
            "exit": code,
            "stdout_bytes": (Path(tmp) / "out").stat().st_size,
            "stderr_tail": tail,
        }


def prepare(directory: Path, records: int) -> tuple[Path, Path, list[Path]]:
    """The generated log, and a state dir whose chain head is the log's last record."""
    logs, state = directory / "logs", directory / "state"
    logs.mkdir()
    state.mkdir()
    files = write_log(logs, records)
    last = last_line(files[-1])
    assert last is not None
    save_head(state / HEAD_FILE, Head(sequence_of(last), digest(last, None)))
    return logs / "access.jsonl", state, files


def run(counts: list[int], only: list[str], say: Any = print) -> dict[str, Any]:
    results: dict[str, Any] = {"runs": {}}
    for records in counts:
        with tempfile.TemporaryDirectory(prefix="optout-review-") as tmp:
            started = time.perf_counter()
            log, state, files = prepare(Path(tmp), records)
            say(
                f"{records:,} records in {len(files)} files ({time.perf_counter() - started:.0f} s)"
            )
            run_: dict[str, Any] = {
                "loadavg_start": round(os.getloadavg()[0], 1),
                "files": len(files),
                "bytes_on_disk": sum(f.stat().st_size for f in files),
            }
            floor = measure([sys.executable, "-c", _FLOOR, *map(str, files)])
            run_["floor"] = floor
            say(
                f"  floor (decompress and count lines): {floor['s']} s "
                f"(CPU {floor['cpu_s']} s), {floor['rss_mb']} MB"
            )
            for name, args in commands(log, state, Path(tmp)).items():
                if only and name not in only:
                    continue
                figures = measure([sys.executable, "-m", "proxy", *args])
                figures["x_floor"] = round(figures["s"] / max(floor["s"], 1e-3), 1)
                figures["cpu_x_floor"] = round(figures["cpu_s"] / max(floor["cpu_s"], 1e-3), 1)
                run_[name] = figures
                flag = "" if figures["exit"] == 0 else f"  EXIT {figures['exit']}"
                say(
                    f"  {name}: {figures['s']} s (CPU {figures['cpu_s']} s), "
                    f"{figures['rss_mb']} MB{flag}"
                )
                if figures["exit"] != 0:
                    say("    " + "\n    ".join(figures["stderr_tail"]))
            run_["loadavg_end"] = round(os.getloadavg()[0], 1)
            results["runs"][records] = run_
    results["targets"] = _targets(results["runs"])
    return results


def _targets(runs: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """At 1M (or the smallest count): met or not; with two counts, time ratio per 2x records."""
    counts = sorted(runs)
    base = runs[counts[0]]
    out: dict[str, Any] = {}
    for name, target in TARGETS.items():
        if name not in base:
            continue
        entry = {
            "s": base[name]["s"],
            "target_s": target,
            "rss_mb": base[name]["rss_mb"],
            "met": base[name]["s"] <= target and base[name]["rss_mb"] <= RSS_TARGET_MB,
        }
        if len(counts) > 1 and name in runs[counts[-1]]:
            scale = counts[-1] / counts[0]
            ratio = runs[counts[-1]][name]["s"] / max(base[name]["s"], 1e-3)
            entry[f"time_x_at_{scale:g}x_records"] = round(ratio, 2)
        out[name] = entry
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.review", description=__doc__)
    parser.add_argument("--records", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--only", nargs="*", default=[], choices=list(TARGETS))
    args = parser.parse_args(argv)
    results = run(args.records, args.only, lambda text: print(text, file=sys.stderr, flush=True))
    print(json.dumps(results, indent=2))
    return 0 if all(t["met"] for t in results["targets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
