"""Micro-benchmark of the network lookup (issue 16 §1): every request pays it once.

All shipped snapshots (rules/networks/ and the crawler ranges of rules/ipranges/)
are compiled as the proxy compiles them. Reported: how many prefixes went in and
how many disjoint intervals came out, the compile time, the memory the compiled
tables hold (tracemalloc, so Python objects only), and lookups per second on
unseen addresses (every one a cache miss: parse, bisect) and on a small hot set
(a returning client: one dict hit). Addresses are three quarters IPv4, drawn
uniformly, and a quarter IPv6 inside 2000::/3, where the lists have entries.
"""

from __future__ import annotations

import ipaddress
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from proxy.config.catalogue import load_catalogue
from proxy.identity import networks as networks_module
from proxy.identity.ipranges import load_ipranges
from proxy.identity.networks import Networks, load_networks

ADDRESSES = 200_000
REPEATS = 3


def addresses(size: int = ADDRESSES, seed: int = 16) -> list[str]:
    rng = random.Random(seed)
    found = []
    for i in range(size):
        if i % 4 == 3:
            found.append(str(ipaddress.IPv6Address((0x2 << 124) | rng.getrandbits(125))))
        else:
            found.append(str(ipaddress.IPv4Address(rng.getrandbits(32))))
    return found


def rate(fn: Callable[[str], object], items: Sequence[str], repeats: int = REPEATS) -> float:
    """Median lookups per second over `repeats` passes."""
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for item in items:
            fn(item)
        rates.append(len(items) / (time.perf_counter() - start))
    return statistics.median(rates)


def _compile(rules: Path, *, traced: bool) -> tuple[Networks, float, int]:
    problems: list[Any] = []
    ipranges = load_ipranges(rules / "ipranges", problems)
    catalogue = load_catalogue(rules / "agents", problems)
    operators = {n: a.operator for a in catalogue.agents for n in a.ip_ranges}
    networks_module._COMPILED.clear()  # measure a compile, not the in-process cache
    if traced:
        tracemalloc.start()
    start = time.perf_counter()
    compiled = load_networks(rules / "networks", problems, ipranges, operators)
    took = time.perf_counter() - start
    held = tracemalloc.get_traced_memory()[0] if traced else 0
    tracemalloc.stop()
    return compiled, took, held


def networks(rules: Path) -> dict[str, Any]:
    _, took, held = _compile(rules, traced=True)  # tracemalloc slows the compile down
    compiled, untraced, _ = _compile(rules, traced=False)
    unseen = addresses()
    hot = unseen[:100] * (len(unseen) // 100)
    prefixes = sum(s.count for s in compiled.snapshots.values())
    return {
        "snapshots": len(compiled.snapshots),
        "prefixes": prefixes,
        "intervals": compiled.size,
        "compile_s": untraced,
        "compile_traced_s": took,
        "memory_mb": held / 1e6,
        # The same loop calling a function that does nothing: this machine's floor.
        "empty_calls_s": rate(lambda _: None, unseen),
        "uncached_lookups_s": rate(compiled.lookup_uncached, unseen),
        "cached_lookups_s": rate(compiled.lookup, hot),
        "in_a_list": sum(
            compiled.lookup_uncached(a).provider != "residential/unknown" for a in unseen
        )
        / len(unseen),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(networks(Path(__file__).resolve().parent.parent / "rules"), indent=1))
