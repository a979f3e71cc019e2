"""Micro-benchmark of the network lookup (issue 16 §1): every request pays it once.

All shipped snapshots (rules/networks/ and the crawler ranges of rules/ipranges/)
are compiled as the proxy compiles them. Reported: how many prefixes went in and
how many disjoint intervals came out, the compile time, the memory the compiled
tables hold (tracemalloc, so Python objects only), and lookups per second on
unseen addresses (every one a cache miss: parse, bisect) and on a small hot set
(a returning client: one dict hit). Addresses are three quarters IPv4, drawn
uniformly, and a quarter IPv6 inside 2000::/3, where the lists have entries.
Also measured on addresses inside listed ranges (cloud clients, where the buckets
of the first-level index are crowded), and, as same-run baselines on the same
addresses, the search without that index (one bisect over every interval) and
the straightforward lookup (ipaddress, then that bisect).
"""

from __future__ import annotations

import bisect
import ipaddress
import json
import random
import socket
import statistics
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from proxy.config.catalogue import load_catalogue
from proxy.identity import networks as networks_module
from proxy.identity.intervals import bucket_index
from proxy.identity.ipranges import load_ipranges
from proxy.identity.networks import Networks, from_document, load_networks, to_document

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


def listed(compiled: Networks, size: int = ADDRESSES // 4, seed: int = 17) -> list[str]:
    """Addresses inside listed intervals: the crowded buckets, where the index has to bisect."""
    rng = random.Random(seed)
    found = []
    for table, cls in (
        (compiled._v4, ipaddress.IPv4Address),
        (compiled._v6, ipaddress.IPv6Address),
    ):
        picks = [
            i for i, label in enumerate(table.labels) if label.provider != "residential/unknown"
        ]
        for i in rng.choices(picks, k=size // 2):
            found.append(str(cls(rng.randint(table.starts[i], table.ends[i]))))
    rng.shuffle(found)
    return found


def one_bisect(compiled: Networks) -> Callable[[str], object]:
    """The lookup before the bucket index: inet_pton, then one bisect over every interval."""
    v4, v6 = compiled._v4, compiled._v6
    pton, frombytes, find = socket.inet_pton, int.from_bytes, bisect.bisect_right

    def lookup(ip: str) -> object:
        if ":" not in ip:
            value, table = frombytes(pton(socket.AF_INET, ip)), v4
        else:
            value, table = frombytes(pton(socket.AF_INET6, ip)), v6
            if value >> 32 == 0xFFFF:
                value, table = value & 0xFFFFFFFF, v4
        i = find(table.starts, value) - 1
        return table.labels[i] if i >= 0 and value <= table.ends[i] else None

    return lookup


def rate(fn: Callable[[str], object], items: Sequence[str], repeats: int = REPEATS) -> float:
    """Median lookups per second over `repeats` passes."""
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for item in items:
            fn(item)
        rates.append(len(items) / (time.perf_counter() - start))
    return statistics.median(rates)


def interleaved(
    fns: dict[str, Callable[[str], object]], items: Sequence[str], repeats: int = 7
) -> dict[str, float]:
    """Median lookups per second of each of `fns`, their passes taken in turn.

    On a shared machine the load changes from one second to the next: passes taken
    one after the other compare like with like, and `<name>_vs_<first>` is the
    median of the per-pass ratios to the first function.
    """
    rates: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            for item in items:
                fn(item)
            rates[name].append(len(items) / (time.perf_counter() - start))
    first, *others = fns
    found = {f"{name}_s": statistics.median(found) for name, found in rates.items()}
    for name in others:
        pairs = zip(rates[first], rates[name], strict=True)
        found[f"{first}_vs_{name}"] = statistics.median(a / b for a, b in pairs)
    return found


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


def _cache_read(compiled: Networks) -> dict[str, float]:
    """A start from --cache: the tables from their JSON values, and of that the bucket index."""
    document = json.loads(json.dumps(to_document(compiled)))
    start = time.perf_counter()
    from_document(document)
    read = time.perf_counter() - start
    start = time.perf_counter()
    for table, bits in ((compiled._v4, 32), (compiled._v6, 128)):
        bucket_index(table.starts, table.ends, list(table.labels), bits, None)
    return {"cache_read_s": read, "of_which_index_s": time.perf_counter() - start}


def networks(rules: Path) -> dict[str, Any]:
    _, took, held = _compile(rules, traced=True)  # tracemalloc slows the compile down
    compiled, untraced, _ = _compile(rules, traced=False)
    unseen = addresses()
    hot = unseen[:100] * (len(unseen) // 100)
    inside = listed(compiled)
    prefixes = sum(s.count for s in compiled.snapshots.values())
    return {
        "snapshots": len(compiled.snapshots),
        "prefixes": prefixes,
        "intervals": compiled.size,
        "compile_s": untraced,
        "compile_traced_s": took,
        **_cache_read(compiled),
        "memory_mb": held / 1e6,
        # The same loop calling a function that does nothing: this machine's floor.
        # The same addresses through the lookup, the search without the bucket index
        # (one bisect over every interval), the straightforward lookup the tests hold
        # it to (ipaddress, then that bisect), and a call that does nothing: the floor.
        **interleaved(
            {
                "uncached_lookups": compiled.lookup_uncached,
                "one_bisect_lookups": one_bisect(compiled),
                "plain_lookups": compiled.lookup_plain,
                "empty_calls": lambda _: None,
            },
            unseen,
        ),
        **{
            f"listed_{name}": value
            for name, value in interleaved(
                {
                    "uncached_lookups": compiled.lookup_uncached,
                    "one_bisect_lookups": one_bisect(compiled),
                },
                inside,
            ).items()
        },
        "cached_lookups_s": rate(compiled.lookup, hot),
        "in_a_list": sum(
            compiled.lookup_uncached(a).provider != "residential/unknown" for a in unseen
        )
        / len(unseen),
    }


if __name__ == "__main__":
    print(json.dumps(networks(Path(__file__).resolve().parent.parent / "rules"), indent=1))
