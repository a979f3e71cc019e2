"""A compiled policy rule: ANDed matchers and an action.

Patterns are compiled when the rules load (`proxy.patterns`), so a bad pattern can
never reach a request. Rates ("10/s burst 20") are parsed here, for throttle rules.

`network`, `signals` and `flagged` match what the request showed besides its claim
(where it comes from, consistency checks that fired, flags held against the client);
their names are checked against a `Vocabulary` the rules directory supplies.
`score` compares the request's suspicion score (proxy.config.weights) with a number.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from proxy.model import (
    RESIDENTIAL,
    Action,
    ChallengeSpec,
    Classification,
    Identity,
    Network,
    Purpose,
    RequestInfo,
)
from proxy.patterns import PathMatcher
from proxy.prices import Price

_UNITS = {"s": 1.0, "sec": 1.0, "second": 1.0, "min": 60.0, "minute": 60.0}
_UNITS |= {"h": 3600.0, "hour": 3600.0}
_RATE = re.compile(r"\s*([0-9]+)\s*/\s*([a-z]+)(?:\s+burst\s+([0-9]+))?\s*")
MAX_BURST = 1_000_000
DATACENTER = "datacenter"  # network: any cloud or hosting provider's published range
CRAWLER_RANGE = "crawler-range"  # network: any crawler operator's published range
_THRESHOLD = re.compile(r"\s*(>=|<=|>|<)\s*(-?[0-9]+(?:\.[0-9]+)?)\s*")
_COMPARE = {
    ">=": float.__ge__,
    ">": float.__gt__,
    "<=": float.__le__,
    "<": float.__lt__,
}


@dataclass(frozen=True, slots=True)
class Threshold:
    """`score: ">= 3"`: how a request's suspicion score (proxy.config.weights) must compare."""

    operator: str  # ">=", ">", "<=" or "<"
    value: float

    def accepts(self, score: float) -> bool:
        return bool(_COMPARE[self.operator](float(score), self.value))

    def __str__(self) -> str:
        return f"{self.operator} {self.value:g}"


def parse_threshold(value: object) -> Threshold:
    """`Threshold` of ">= 3", "> 2.5", "< 1" or "<= 0". Raises ValueError."""
    found = _THRESHOLD.fullmatch(value) if isinstance(value, str) else None
    if found is None:
        number = re.fullmatch(r"\s*-?[0-9]+(?:\.[0-9]+)?\s*", str(value))
        bare = f"; a bare number is ambiguous: '>= {str(value).strip()}'?" if number else ""
        raise ValueError(
            f"threshold {value!r} must be an operator and a number in quotes, such as "
            f'">= 3" or "< 1" (>=, >, <=, <){bare}'
        )
    return Threshold(found.group(1), float(found.group(2)))


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """The names `network`, `signals` and `flagged` may use, from the rules directory."""

    providers: frozenset[str] = frozenset()  # provider names of rules/networks/
    signals: frozenset[str] = frozenset()  # proxy.identity.consistency.SIGNALS
    flags: frozenset[str] = frozenset()  # "trap"


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    action: Action
    agents: frozenset[str] | None = None  # canonical names, lower-cased
    operators: frozenset[str] | None = None
    purposes: frozenset[Purpose] | None = None
    identities: frozenset[Identity] | None = None
    hosts: re.Pattern[str] | None = None
    paths: PathMatcher | None = None
    methods: frozenset[str] | None = None
    networks: frozenset[str] | None = None  # "datacenter", "crawler-range" or provider names
    signals: frozenset[str] | None = None  # any of them fired
    flagged: frozenset[str] | None = None  # any of them is held against the client
    score: Threshold | None = None  # the request's suspicion score compares so
    description: str = ""
    price: Price | None = None  # charge
    rate: tuple[float, int] | None = None  # throttle
    per_client: bool = False  # throttle
    challenge: ChallengeSpec | None = None  # challenge

    def matches(self, request: RequestInfo, found: Classification, score: float = 0) -> bool:
        """`score` is the request's suspicion score (proxy.config.weights), for `score:`."""
        agent = found.agent
        if self.agents is not None and (agent is None or agent.name.lower() not in self.agents):
            return False
        if self.operators is not None and (agent is None or agent.operator not in self.operators):
            return False
        if self.purposes is not None and (agent is None or agent.purpose not in self.purposes):
            return False
        if self.identities is not None and found.identity not in self.identities:
            return False
        if self.methods is not None and request.method.upper() not in self.methods:
            return False
        if self.hosts is not None and self.hosts.fullmatch(request.host.lower()) is None:
            return False
        if self.networks is not None and not network_matches(self.networks, request.network):
            return False
        if self.signals is not None and self.signals.isdisjoint(request.signals):
            return False
        if self.flagged is not None and self.flagged.isdisjoint(request.flagged):
            return False
        if self.score is not None and not self.score.accepts(score):
            return False
        return self.paths is None or self.paths.match(request.path) is not None


def network_matches(wanted: frozenset[str], network: Network | None) -> bool:
    """Whether a request's network is one of `wanted`; an address not looked up is none."""
    if network is None:
        return False
    if DATACENTER in wanted and network.provider != RESIDENTIAL:
        return True
    if CRAWLER_RANGE in wanted and network.crawler_range is not None:
        return True
    return network.provider in wanted


def parse_rate(text: str) -> tuple[float, int]:
    """`(rate per second, burst)` of "10/s", "600/min", "1000/h" or "10/s burst 20".

    Without `burst`, the burst is one second's worth of requests, at least 1, so a
    crawler gets the rate evenly rather than all of an hour's allowance at once.
    Raises ValueError.
    """
    match = _RATE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"rate {text!r} must be COUNT/UNIT with an optional 'burst N', such as '10/s', "
            "'600/min' or '1000/h burst 20'"
        )
    count, unit, burst_text = int(match.group(1)), match.group(2), match.group(3)
    if unit not in _UNITS:
        raise ValueError(f"rate {text!r}: unknown unit {unit!r}; expected s, min or h")
    if count < 1:
        raise ValueError(f"rate {text!r}: the count must be at least 1")
    rate = count / _UNITS[unit]
    burst = int(burst_text) if burst_text is not None else max(1, math.ceil(rate))
    if not 1 <= burst <= MAX_BURST:
        raise ValueError(f"rate {text!r}: burst must be from 1 to {MAX_BURST}")
    return rate, burst
