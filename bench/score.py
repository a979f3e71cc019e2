"""Micro-benchmark of weighted suspicion (issue 17): what the score costs a request.

Every request that reaches the decision pays two things for it: the behaviour
signals (proxy.decision.score.Activity.observe: a token bucket and a crawl window
per client address) and the sum of the weights (Weights.score). Measured on the
same requests, in the same run, against the baseline they are added to: the
classification of the request (catalogue match and the consistency checks), which
every request already pays. Requests: the classifier benchmark's user agents, a
third from datacenter networks, some with consistency signals, from 20,000 client
addresses (a quarter IPv6, which is keyed by its /64), on 200 page paths and their
subresources.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.micro import corpus
from proxy.config.weights import Weights
from proxy.decision.score import Activity
from proxy.identity.classify import classify
from proxy.identity.consistency import consistency_signals
from proxy.model import RESIDENTIAL, Network, RequestInfo
from proxy.ruleset import load_rules

REQUESTS = 100_000
REPEATS = 3
CLIENTS = 20_000
_NETWORKS = (Network(RESIDENTIAL), Network(RESIDENTIAL), Network("aws", "EC2", "us-east-1"))
_SIGNALS = (frozenset(), frozenset(), frozenset(), frozenset({"no-accept-language"}))
_HEADERS = {"accept": "text/html", "accept-language": "en"}


def requests(user_agents: Sequence[str], seed: int = 17) -> list[RequestInfo]:
    rng = random.Random(seed)
    clients = [
        f"2001:db8:{i:x}::{rng.randint(1, 9999):x}" if i % 4 == 3 else f"10.{i >> 8}.{i & 255}.1"
        for i in range(CLIENTS)
    ]
    paths = [f"/releases/{i}" for i in range(200)] + ["/cover.jpg", "/site.css", "/a.mp3"]
    return [
        RequestInfo(
            "GET",
            "label.example",
            rng.choice(paths),
            user_agents[i % len(user_agents)],
            rng.choice(clients),
            network=rng.choice(_NETWORKS),
            signals=rng.choice(_SIGNALS),
        )
        for i in range(REQUESTS)
    ]


def per_request_us(step: Callable[[RequestInfo], object], batch: Sequence[RequestInfo]) -> float:
    """Median microseconds per request over REPEATS passes."""
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        for request in batch:
            step(request)
        times.append(time.perf_counter() - start)
    return statistics.median(times) / len(batch) * 1e6


def score(rules: Path) -> dict[str, Any]:
    ruleset = load_rules(rules)
    catalogue, weights = ruleset.catalogue, ruleset.policy.suspicion
    batch = requests(corpus(catalogue, 50_000))
    activity = Activity()

    def classified(request: RequestInfo) -> object:
        consistency_signals(request.user_agent, _HEADERS, True, None)
        return classify(catalogue, request)

    def scored(request: RequestInfo) -> object:
        consistency_signals(request.user_agent, _HEADERS, True, None)
        found = classify(catalogue, request)
        activity.observe(request.client_ip, request.method, request.path)
        return weights.score(request, found)

    found = [classify(catalogue, r) for r in batch]
    pairs = list(zip(batch, found, strict=True))
    baseline = per_request_us(classified, batch)
    with_score = per_request_us(scored, batch)
    only_weights = statistics.median(_time_pairs(weights, pairs) for _ in range(REPEATS))
    return {
        "requests": len(batch),
        "clients": CLIENTS,
        "classify_us": baseline,
        "classify_and_score_us": with_score,
        "score_us": with_score - baseline,
        "weights_sum_us": only_weights,
        "ratio": with_score / baseline,
        "tracked_clients": len(activity),
    }


def _time_pairs(weights: Weights, pairs: Sequence[tuple[RequestInfo, Any]]) -> float:
    start = time.perf_counter()
    for request, found in pairs:
        weights.score(request, found)
    return (time.perf_counter() - start) / len(pairs) * 1e6


if __name__ == "__main__":
    import json

    print(json.dumps(score(Path(__file__).resolve().parent.parent / "rules"), indent=1))
