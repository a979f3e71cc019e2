"""Micro-benchmark of the access-log writer: throughput, and what it costs the event loop.

LogWriter serialises and writes on a background thread so that the proxy's
event loop never waits on the disk. The thread still needs the GIL for
json.dumps, so the question is how late the loop's timers run while it works:
a loop ticking every 1 ms is measured alone, then while a task writes records
at a steady RATE (a producer that outruns the thread would only measure the
backlog).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.micro import corpus
from proxy.config.catalogue import Catalogue
from proxy.decision.decide import decide
from proxy.evidence.record import build_record
from proxy.identity.classify import classify
from proxy.model import RequestInfo
from proxy.ruleset import Ruleset, load_rules
from proxy.store.logwriter import LogWriter

RECORDS = 500_000
POOL = 2_000
TICK_S = 0.001
PHASE_S = 3.0
CHUNK = 10  # records written per loop iteration: ten requests finishing at once
RATE = 10_000  # records/s while the loop is measured: several times what the proxy serves


def records(ruleset: Ruleset, count: int = POOL) -> list[dict[str, Any]]:
    """Records as the proxy writes them, for a mix of browsers and crawlers."""
    catalogue: Catalogue = ruleset.catalogue
    out = []
    now = time.time()
    for i, ua in enumerate(corpus(catalogue, count, seed=5)):
        request = RequestInfo(
            "GET", "label.example", f"/releases/{i}/tracks", ua, f"10.0.{i % 256}.7"
        )
        found = classify(catalogue, request)
        verdict = decide(ruleset.policy, request, found)
        blocked = verdict.action.value == "block"
        out.append(
            build_record(
                started=now + i / 1000,
                duration_ns=1_500_000 + i,
                request=request,
                found=found,
                verdict=verdict,
                status=403 if blocked else 200,
                body_bytes=900 if blocked else 5120,
                signals=("tdm-reservation", "tdm-policy", "x-robots-tag", "link"),
            )
        )
    return out


def throughput(pool: list[dict[str, Any]], directory: Path) -> dict[str, Any]:
    writer = LogWriter(str(directory / "throughput.jsonl"))
    start = time.perf_counter()
    for i in range(RECORDS):
        writer.write(pool[i % len(pool)])
    queued = time.perf_counter()
    writer.close()
    done = time.perf_counter()
    size = (directory / "throughput.jsonl").stat().st_size
    return {
        "records": RECORDS,
        "written": writer.written,
        "lost": writer.lost,
        "bytes_per_record": size / RECORDS,
        "enqueue_records_s": RECORDS / (queued - start),
        "records_s": RECORDS / (done - start),
    }


async def _ticks(seconds: float) -> list[float]:
    """Lateness (ms) of 1 ms timers over `seconds`."""
    loop = asyncio.get_running_loop()
    late: list[float] = []
    finished = loop.create_future()
    end = loop.time() + seconds

    def tick(due: float) -> None:
        now = loop.time()
        late.append((now - due) * 1000)
        if now >= end:
            finished.set_result(None)
        else:
            loop.call_at(now + TICK_S, tick, now + TICK_S)

    loop.call_at(loop.time() + TICK_S, tick, loop.time() + TICK_S)
    await finished
    return late


async def _lateness(pool: list[dict[str, Any]], directory: Path) -> dict[str, Any]:
    idle = await _ticks(PHASE_S)
    writer = LogWriter(str(directory / "loop.jsonl"))
    sent = 0
    stop = False

    async def produce() -> None:
        nonlocal sent
        while not stop:
            for _ in range(CHUNK):
                writer.write(pool[sent % len(pool)])
                sent += 1
            await asyncio.sleep(CHUNK / RATE)

    task = asyncio.create_task(produce())
    busy = await _ticks(PHASE_S)
    stop = True
    await task
    backlog = sent - writer.written
    writer.close()
    return {
        "idle_p50_ms": _pct(idle, 50),
        "idle_p99_ms": _pct(idle, 99),
        "writing_p50_ms": _pct(busy, 50),
        "writing_p99_ms": _pct(busy, 99),
        "writing_max_ms": max(busy),
        "records_during_phase": sent,
        "records_s_during_phase": sent / PHASE_S,
        "backlog_at_end": backlog,
    }


def _pct(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100)[p - 1] if len(values) > 1 else values[0]


def logwriter(rules: Path) -> dict[str, Any]:
    ruleset = load_rules(rules)
    pool = records(ruleset)
    with tempfile.TemporaryDirectory(prefix="optout-bench-log-") as tmp:
        result = throughput(pool, Path(tmp))
        result["loop"] = asyncio.run(_lateness(pool, Path(tmp)))
    return result
