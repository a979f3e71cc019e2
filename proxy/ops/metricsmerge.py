"""One /metrics for all the workers of `--workers N`: their expositions merged.

Each worker counts in its own process; the supervisor scrapes them and serves
the sum, under the same names and labels as a single process, so dashboards and
alerts need no change. Counters, histograms and summaries add up. Gauges cannot
all be added: a worker's `optout_rules_version_info` is 1, and so is the whole
proxy's. A gauge is the largest worker's value, except a `*_success` or `*_up`
gauge (the smallest: 0 if any worker failed) and a `*_created` time (the
earliest).

A worker that dies takes its counts with it; `Totals.retire` keeps the last
counts scraped from it, added to its successor's, so the merged counters never
go backwards (a restart would look to Prometheus like a reset of every counter).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

ADDED = ("counter", "histogram", "summary")
Key = tuple[str, tuple[tuple[str, str], ...]]  # sample name, sorted labels


@dataclass
class Family:
    type: str
    documentation: str
    samples: dict[Key, float] = field(default_factory=dict)


Families = dict[str, Family]


def parse(text: str) -> Families:
    """A Prometheus text exposition; ValueError if it is not one."""
    found: Families = {}
    for metric in text_string_to_metric_families(text):
        family = found.setdefault(metric.name, Family(metric.type, metric.documentation))
        for sample in metric.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            family.samples[key] = sample.value
    return found


def _combine(name: str, kind: str) -> str:
    if kind in ADDED:
        return "sum"
    if name.endswith("_created"):
        return "min"
    if name.endswith(("_success", "_up")):
        return "min"
    return "max"


def merge(expositions: Iterable[Families]) -> Families:
    """The families of all workers as one process's: see the module's rules."""
    merged: Families = {}
    for families in expositions:
        for name, family in families.items():
            into = merged.setdefault(name, Family(family.type, family.documentation))
            how = _combine(name, family.type)
            for key, value in family.samples.items():
                if key not in into.samples:
                    into.samples[key] = value
                elif how == "sum" and not key[0].endswith("_created"):
                    into.samples[key] += value
                elif how == "max":
                    into.samples[key] = max(into.samples[key], value)
                else:
                    into.samples[key] = min(into.samples[key], value)
    return merged


@dataclass
class Totals:
    """The counts of workers that are gone, kept so the merged counters only grow."""

    retired: Families = field(default_factory=dict)

    def retire(self, last: Families) -> None:
        """A worker ended: keep its last scraped counters (not its gauges)."""
        counted = {
            name: Family(
                f.type,
                f.documentation,
                {k: v for k, v in f.samples.items() if not k[0].endswith("_created")},
            )
            for name, f in last.items()
            if f.type in ADDED
        }
        self.retired = merge([self.retired, counted])


def render(families: Families, *more: Collector) -> bytes:
    """The text exposition of `families`, and of the collectors in `more` after them."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(families))
    for collector in more:
        registry.register(collector)
    return generate_latest(registry)


class _Fixed(Collector):
    def __init__(self, families: Families) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        for name, family in self.families.items():
            metric = Metric(name, family.documentation, family.type)
            for (sample, labels), value in family.samples.items():
                metric.add_sample(sample, dict(labels), value)
            yield metric
