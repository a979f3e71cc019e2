"""`python -m bench.store`: decisions per second of a throttled rule, memory against Redis.

What a request costs the proxy's own code when its state is shared: the
Classify, Fingerprint (trap flags) and Decide addons run on each request of a
throttled path, as the engine runs them, with `--store memory` (the baseline:
the in-process buckets and flags) and with `--store redis://` against a real
redis-server on loopback (one round trip, the bucket's Lua script; flags are
read from the process's mirror). Redis is measured with one request at a time
(latency-bound) and with 20 in flight (as 20 connections would be); a path no
throttle covers shows what every other request pays. Same run, rounds
interleaved, medians reported. The engine's own cost (~0.3-0.6 ms a request, README
"Performance") is not included, so the ratio here is the worst case.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mitmproxy.test import tflow, tutils

from addons.classify import Classify
from addons.decide import Decide
from addons.fingerprint import Fingerprint
from proxy.decision.trap import FlagStore, RobotsSeen
from proxy.engine.pipeline import OUTCOME, Pipeline
from proxy.ruleset import load_rules
from proxy.store.logwriter import LogWriter
from proxy.store.redisstate import RedisState

ROOT = Path(__file__).resolve().parents[1]
RULE = "{name: bench-throttle, path: /throttled, action: throttle, rate: 100000/s burst 100000}"
UA = "Mozilla/5.0 (compatible; SeoBot/1.0)"
LABELS = {  # each redis row is compared with the memory row before it
    "memory_1": "throttled path, 1 in flight | memory",
    "redis_1": "throttled path, 1 in flight | redis",
    "memory_20": "throttled path, 20 in flight | memory",
    "redis_20": "throttled path, 20 in flight | redis",
    "page_memory": "other path (flags only) | memory",
    "page_redis": "other path (flags only) | redis",
}
BASELINE = {"redis_1": "memory_1", "redis_20": "memory_20", "page_redis": "page_memory"}


def _flow(path: str = "/throttled") -> Any:
    flow = tflow.tflow(req=tutils.treq(path=path.encode(), headers=()))
    flow.request.headers["host"] = "label.example"
    flow.request.headers["user-agent"] = UA
    return flow


def _rules(tmp: Path) -> Path:
    rules = tmp / "rules"
    shutil.copytree(ROOT / "rules", rules)
    policy = (rules / "policy.yaml").read_text().replace("\nrules:\n", f"\nrules:\n  - {RULE}\n")
    (rules / "policy.yaml").write_text(policy)
    return rules


class Chain:
    def __init__(self, pipeline: Pipeline) -> None:
        self.addons = [
            Classify(pipeline),
            Fingerprint(pipeline, FlagStore(), RobotsSeen()),
            Decide(pipeline),
        ]

    async def request(self, flow: Any) -> str:
        for addon in self.addons:
            result = addon.requestheaders(flow)
            if inspect.isawaitable(result):
                await result
        return str(flow.metadata[OUTCOME])


async def _rate(chain: Chain, n: int, in_flight: int, path: str = "/throttled") -> float:
    flows = [_flow(path) for _ in range(n)]  # made before the clock starts: not the proxy's cost
    started = time.perf_counter()
    if in_flight == 1:
        for flow in flows:
            await chain.request(flow)
    else:
        for i in range(0, n, in_flight):
            await asyncio.gather(*(chain.request(f) for f in flows[i : i + in_flight]))
    return n / (time.perf_counter() - started)


def _redis(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    binary = shutil.which("redis-server") or sys.exit("redis-server is not installed")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.01)
    return process, f"redis://127.0.0.1:{port}/0"


async def run(rounds: int, n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        ruleset = load_rules(_rules(tmp))
        log = LogWriter(str(tmp / "access.jsonl"))
        memory = Chain(Pipeline(ruleset, log))
        process, url = _redis(tmp)
        store = RedisState(url, timeout=1.0)
        shared = Chain(Pipeline(ruleset, log, shared=store))
        try:
            await store.start()
            assert await shared.request(_flow()) == "allowed", "the throttle rule must apply"
            rates: dict[str, list[float]] = {key: [] for key in LABELS}
            for _ in range(rounds):
                rates["memory_1"].append(await _rate(memory, n, 1))
                rates["redis_1"].append(await _rate(shared, n, 1))
                rates["memory_20"].append(await _rate(memory, n, 20))
                rates["redis_20"].append(await _rate(shared, n, 20))
                rates["page_memory"].append(await _rate(memory, n, 1, "/page"))
                rates["page_redis"].append(await _rate(shared, n, 1, "/page"))
            errors = store.errors
            failures = store.failures
        finally:
            await store.close()
            process.kill()
            process.wait()
            log.close()
    medians = {k: statistics.median(v) for k, v in rates.items()}
    return {
        "decisions_per_s": medians,
        "ratio_to_memory": {k: v / medians[BASELINE.get(k, k)] for k, v in medians.items()},
        "store_errors": errors,
        "store_failures": failures,
        "rounds": rounds,
        "requests_per_round": n,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.store", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=4000, help="per round and mode")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.rounds, args.requests))
    print("| requests | store | decisions/s (median) | vs memory |")
    print("| --- | --- | ---: | ---: |")
    for key, label in LABELS.items():
        rate = result["decisions_per_s"][key]
        print(f"| {label} | {rate:,.0f} | {result['ratio_to_memory'][key]:.2f}x |")
    print(f"\n{result['rounds']} rounds of {result['requests_per_round']} requests; "
          f"calls answered without Redis: {result['store_errors']} "
          f"({result['store_failures']} failed or timed out, the rest skipped after)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
