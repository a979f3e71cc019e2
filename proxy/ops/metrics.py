"""Prometheus metrics: what an operator graphs and alerts on.

    optout_requests_total{agent,purpose,identity,action,status}   requests answered
    optout_shadow_decisions_total{agent,purpose,identity,action,rule}
                                                 decisions shadow mode did not apply
    optout_request_duration_seconds{action}      latency, request start to response end
    optout_log_records_written_total / _lost_total   the access log's own counters
    optout_rules_version_info{version}           1 for the rules in force
    optout_rules_loaded_timestamp_seconds        when they were loaded
    optout_reloads_total{reason,result}          every reload attempt
    optout_rules_last_reload_success             1 if the last reload worked, else 0
    optout_timestamp_requests_total{tsa,result}  RFC 3161 requests, success or failure
    optout_checkpoints_total{result}             checkpoints written: timestamped, signed, gap
    optout_last_timestamp_seconds                when the chain head was last timestamped
    optout_challenges_total{outcome,reason}      challenge pages, passes and failures (reasons
                                                 are proxy.decision.challenge's closed set)
    optout_store_errors_total{operation}         shared-store calls answered without it (--store)
    optout_store_up                              1 while the shared store answers, else 0

Label values come from closed sets (agent names from the catalogue, purposes,
identities, actions, reload reasons) or from the status code, so a crawler cannot
grow the number of series by sending odd requests. The metrics live in their own
registry, not prometheus_client's global one: a test or an embedding program can
run several proxies in one process without their numbers mixing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from proxy.model import Classification, Verdict

NONE = "none"  # the label value for "no agent", "no status"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        who = ("agent", "purpose", "identity", "action")
        self.requests = Counter(
            "optout_requests",
            "Requests answered, by who asked and what was done.",
            (*who, "status"),
            registry=reg,
        )
        self.challenges = Counter(
            "optout_challenges",
            "Challenge outcomes (challenged, challenge-passed, challenge-failed) and why.",
            ("outcome", "reason"),
            registry=reg,
        )
        self.shadow = Counter(
            "optout_shadow_decisions",
            "Blocks that shadow mode decided but did not apply.",
            (*who, "rule"),
            registry=reg,
        )
        self.latency = Histogram(
            "optout_request_duration_seconds",
            "From the request's first byte to the response's last.",
            ("action",),
            buckets=BUCKETS,
            registry=reg,
        )
        self.rules_version = Gauge(
            "optout_rules_version_info",
            "1 for the version of the rules in force (short sha256 of the rules files).",
            ("version",),
            registry=reg,
        )
        self.rules_loaded = Gauge(
            "optout_rules_loaded_timestamp_seconds",
            "When the rules in force were loaded.",
            registry=reg,
        )
        self.reloads = Counter(
            "optout_reloads",
            "Reload attempts, by trigger and result.",
            ("reason", "result"),
            registry=reg,
        )
        # TSA labels are the configured URLs' hosts: a closed set from the settings.
        self.timestamps = Counter(
            "optout_timestamp_requests",
            "RFC 3161 timestamp requests, by TSA and result (a retry counts again).",
            ("tsa", "result"),
            registry=reg,
        )
        self.checkpoints = Counter(
            "optout_checkpoints",
            "Checkpoints written; result gap: no TSA answered, trusted time is missing.",
            ("result",),
            registry=reg,
        )
        self.last_timestamp = Gauge(
            "optout_last_timestamp_seconds",
            "When a TSA last timestamped the chain head (0: never since the start).",
            registry=reg,
        )
        self.store_errors = Counter(
            "optout_store_errors",
            "Calls to the shared store (--store) that failed, timed out or were skipped while "
            "it was down, by operation: throttle, flag, flags, verdict, charge.",
            ("operation",),
            registry=reg,
        )
        self.store_up = Gauge(
            "optout_store_up",
            "1 while the shared store answers (or none is configured), 0 while it does not.",
            registry=reg,
        )
        self.store_up.set(1)
        # The labelled children of the per-request metrics, by label values: looking
        # them up through labels() on every request cost more than counting.
        self._children: dict[tuple[str, ...], Any] = {}
        self.last_reload = Gauge(
            "optout_rules_last_reload_success",
            "1 if the last reload (or the start) "
            "loaded the rules, 0 if it failed and older rules still serve.",
            registry=reg,
        )

    def request(
        self,
        found: Classification,
        verdict: Verdict | None,
        status: int | None,
        seconds: float,
        shadow: Verdict | None = None,
    ) -> None:
        """Count one finished request; `shadow` is the block shadow mode let through."""
        agent = found.agent
        who = (
            agent.name if agent else NONE,
            agent.purpose.value if agent else NONE,
            found.identity.value,
        )
        action = verdict.action.value if verdict else "error"
        key = (*who, action, str(status) if status is not None else NONE)
        counter = self._children.get(key)
        if counter is None:
            counter = self._children[key] = self.requests.labels(*key)
        counter.inc()
        histogram = self._children.get((action,))
        if histogram is None:
            histogram = self._children[(action,)] = self.latency.labels(action)
        histogram.observe(max(seconds, 0.0))
        if shadow is not None:
            self.shadow.labels(*who, shadow.action.value, shadow.rule).inc()

    def rules_in_force(self, version: str, loaded_at: float | None = None) -> None:
        self.rules_version.clear()
        self.rules_version.labels(version).set(1)
        self.rules_loaded.set(time.time() if loaded_at is None else loaded_at)

    def reloaded(self, reason: str, ok: bool) -> None:
        self.reloads.labels(reason, "success" if ok else "failure").inc()
        self.last_reload.set(1 if ok else 0)

    def track_log(self, written: Callable[[], int], lost: Callable[[], int]) -> None:
        """Report the access log's counters as they are at each scrape."""
        self.registry.register(_LogCollector(written, lost))

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)


class _LogCollector(Collector):
    """Reads the LogWriter's counters at scrape time: it counts in its own thread."""

    def __init__(self, written: Callable[[], int], lost: Callable[[], int]) -> None:
        self.written = written
        self.lost = lost

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(
            "optout_log_records_written", "Access-log records written.", value=self.written()
        )
        yield CounterMetricFamily(
            "optout_log_records_lost",
            "Access-log records lost because the log could not be written.",
            value=self.lost(),
        )
