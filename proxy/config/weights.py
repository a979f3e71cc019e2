"""Weighted suspicion: what each signal a request shows adds to its score (`suspicion:`).

    suspicion:                  # every key optional; an unnamed signal keeps its default
      datacenter: 1             # network class: a cloud or hosting provider's range
      ua-tls-mismatch: 2        # a consistency signal (proxy.identity.consistency)
      high-rate: 1              # a client's recent behaviour (proxy.decision.score)

A request's score is the sum of the weights of the signals it shows: its network
class (exactly one of crawler-range, datacenter, residential; none when the address
was not looked up), each consistency or behaviour signal that fired, each flag held
against the client, and its identity when that is spoofed or undeclared. Weights are
finite numbers (negative ones lower the score); a weight of 0 turns a signal off.

The names are literal here because the config layer sits below the modules that make
the signals; tests/config/test_score_weights.py holds the two lists together.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from proxy.config import yamlsource
from proxy.model import RESIDENTIAL, Classification, Identity, Network, RequestInfo

CRAWLER_RANGE, DATACENTER, RESIDENTIAL_CLASS = "crawler-range", "datacenter", "residential"
HIGH_RATE = "high-rate"  # the client is over the rate of proxy.decision.score
NO_ROBOTS_CRAWL = "no-robots-crawl"  # a crawl-like sequence with no robots.txt fetch before it
MAX_WEIGHT = 1000.0

# The shipped weights, in the order the parts of a score are listed.
DEFAULT_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {
        CRAWLER_RANGE: 1,
        DATACENTER: 1,
        RESIDENTIAL_CLASS: 0,
        "ua-tls-mismatch": 2,
        "ua-headers-mismatch": 1,
        "no-accept-language": 1,
        "automation-token": 2,
        HIGH_RATE: 1,
        NO_ROBOTS_CRAWL: 1,
        "trap": 3,
        Identity.SPOOFED.value: 3,
        Identity.UNDECLARED.value: 2,
    }
)
_IDENTITIES = frozenset({Identity.SPOOFED, Identity.UNDECLARED})


@dataclass(frozen=True, slots=True)
class Score:
    total: float
    parts: tuple[tuple[str, float], ...] = ()  # (signal, weight) of each signal that counted

    def fields(self) -> dict[str, Any]:
        """The record's `optout.score` and, when something counted, `optout.score_parts`."""
        found: dict[str, Any] = {"score": self.total}
        if self.parts:
            found["score_parts"] = dict(self.parts)
        return found


@dataclass(frozen=True, slots=True)
class Weights:
    weights: Mapping[str, float] = field(default_factory=lambda: DEFAULT_WEIGHTS)

    def score(self, request: RequestInfo, found: Classification) -> Score:
        """The sum of the weights of what `request` shows; zero weights are left out."""
        shown = [network_class(request.network)] if request.network is not None else []
        shown += request.signals
        shown += request.flagged
        if found.identity in _IDENTITIES:
            shown.append(found.identity.value)
        weights = self.weights
        parts = [(name, weights[name]) for name in shown if weights.get(name)]
        if len(parts) > 1:
            order = _ORDER
            parts.sort(key=lambda part: order.get(part[0], len(order)))
        return Score(sum(w for _, w in parts), tuple(parts))

    def ceiling(self) -> float:
        """The highest score a request can reach: one network class, every other signal."""
        return self._bound(max, lambda w: w > 0)

    def floor(self) -> float:
        """The lowest score a request can reach."""
        return self._bound(min, lambda w: w < 0)

    def _bound(self, pick: Any, counts: Any) -> float:
        classes = (CRAWLER_RANGE, DATACENTER, RESIDENTIAL_CLASS)
        network = pick(0.0, *(self.weights.get(c, 0) for c in classes))  # or not looked up
        rest = (w for name, w in self.weights.items() if name not in classes and counts(w))
        return float(network + sum(rest))


_ORDER = {name: i for i, name in enumerate(DEFAULT_WEIGHTS)}
DEFAULT = Weights()


def network_class(network: Network) -> str:
    """crawler-range, datacenter or residential: the one class of a looked-up address."""
    if network.crawler_range:
        return CRAWLER_RANGE
    return RESIDENTIAL_CLASS if network.provider == RESIDENTIAL else DATACENTER


def parse_weight(name: Any, value: Any) -> float:
    """One weight: a known signal name and a finite number. Raises ValueError."""
    if not isinstance(name, str) or name not in DEFAULT_WEIGHTS:
        close = difflib.get_close_matches(str(name), list(DEFAULT_WEIGHTS), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise ValueError(f"unknown signal {name!r}{hint} (signals: {', '.join(DEFAULT_WEIGHTS)})")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"weight of {name} must be a number, not {value!r}")
    if not math.isfinite(value) or abs(value) > MAX_WEIGHT:
        raise ValueError(
            f"weight of {name} must be a finite number from -1000 to 1000, not {value!r}"
        )
    return int(value) if isinstance(value, int) else float(value)  # not ruamel's subclasses


def parse_weights(node: Any, report: yamlsource.Report, line: int | None) -> Weights:
    """The policy's `suspicion:` mapping over the defaults; each problem goes to `report`."""
    if node is None:
        return DEFAULT
    if not isinstance(node, dict):
        report.add(line, "must be a mapping of signal names to weights", field="suspicion")
        return DEFAULT
    weights = dict(DEFAULT_WEIGHTS)
    for name, value in node.items():
        try:
            weights[name] = parse_weight(name, value)
        except ValueError as e:
            where = yamlsource.line_of(node, name) or line
            report.add(where, str(e), field=f"suspicion.{name}")
    return Weights(MappingProxyType(weights))
