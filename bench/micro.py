"""Micro-benchmarks of the core, without the engine: the classifier.

The classifier runs on every request, before anything else; issue 9 wants at
least 200,000 user agents per second on unseen user agents and less than a 2x
slowdown with a 10x larger catalogue. Real traffic is dominated by browsers
whose user agents differ only in version numbers, so the corpus is built that
way, with a quarter of crawler user agents naming shipped catalogue tokens.
"""

from __future__ import annotations

import dataclasses
import random
import statistics
import string
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from proxy.config.catalogue import Catalogue
from proxy.ruleset import load_rules

CORPUS = 200_000
REPEATS = 3

_BROWSERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{a}.0.{i}.{b} Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_{b} like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.{b} Mobile/15E{i} Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:{a}.0) Gecko/2010{i} Firefox/{a}.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel {b}) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{a}.0.{i}.{b} Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{a}.0.{i}.0 Safari/537.36 Edg/{a}.0.{b}.0",
)
_CRAWLERS = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; {t}/{a}.{i}; "
    "+https://example.com/bot)",
    "Mozilla/5.0 (compatible; {t}/{b}.{i}; +https://example.com/bot.html)",
    "{t}/{a}.{i} (+https://example.com/crawler)",
)


def corpus(catalogue: Catalogue, size: int = CORPUS, seed: int = 9) -> list[str]:
    """`size` distinct user agents: 75% browsers, 25% crawlers with catalogue tokens."""
    rng = random.Random(seed)
    tokens = [ua for agent in catalogue.agents for ua in agent.user_agents]
    agents = []
    for i in range(size):
        a, b = rng.randint(100, 140), rng.randint(0, 9)
        if i % 4 == 3:
            agents.append(rng.choice(_CRAWLERS).format(t=rng.choice(tokens), a=a, b=b, i=i))
        else:
            agents.append(rng.choice(_BROWSERS).format(a=a, b=b, i=i))
    return agents


def enlarged(catalogue: Catalogue, factor: int = 10, *, shared_prefix: bool = False) -> Catalogue:
    """The catalogue plus (factor - 1) clones of every agent with new, unique tokens.

    With `shared_prefix`, a clone's tokens start with the original token as a
    separate word ("GPTBot Kq3x"), the worst case for an index keyed by first word.
    """
    rng = random.Random(factor)
    agents = list(catalogue.agents)
    for k in range(1, factor):
        for agent in catalogue.agents:
            suffix = "".join(rng.choices(string.ascii_letters, k=8))
            tokens = tuple(
                f"{ua} {suffix}" if shared_prefix else f"{suffix}{k}{ua.split()[0]}"
                for ua in agent.user_agents
            )
            agents.append(dataclasses.replace(agent, name=f"{agent.name}~{k}", user_agents=tokens))
    return Catalogue(tuple(agents))


def rate(fn: Callable[[str], object], agents: Sequence[str], repeats: int = REPEATS) -> float:
    """Median user agents per second over `repeats` passes."""
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for ua in agents:
            fn(ua)
        rates.append(len(agents) / (time.perf_counter() - start))
    return statistics.median(rates)


def classifier(rules: Path) -> dict[str, Any]:
    shipped = load_rules(rules).catalogue
    unique = corpus(shipped)
    big = enlarged(shipped)
    worst = enlarged(shipped, shared_prefix=True)
    hits = sum(shipped.match(ua) is not None for ua in unique)
    hot = unique[:100]  # a few user agents over and over: every call is a cache hit
    result = {
        "agents_shipped": len(shipped.agents),
        "agents_10x": len(big.agents),
        "corpus": len(unique),
        "corpus_matched": hits,
        "uncached_ua_s": rate(shipped.match, unique),
        "uncached_10x_ua_s": rate(big.match, unique),
        "uncached_10x_shared_prefix_ua_s": rate(worst.match, unique),
        "raw_match_ua_s": rate(shipped._match, unique),
        "cached_ua_s": rate(shipped.match, hot * (len(unique) // len(hot))),
    }
    result["slowdown_10x"] = result["uncached_ua_s"] / result["uncached_10x_ua_s"]
    result["slowdown_10x_shared_prefix"] = (
        result["uncached_ua_s"] / result["uncached_10x_shared_prefix_ua_s"]
    )
    return result
