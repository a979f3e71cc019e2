"""Metrics: what is counted, with which labels, in a registry of its own."""

from __future__ import annotations

from metricsample import sample

from proxy.identity.classify import UNKNOWN
from proxy.model import Action, Classification, Identity, Verdict
from proxy.ops.metrics import Metrics
from proxy.ruleset import Ruleset

BLOCK = Verdict(Action.BLOCK, "block-ai-training")


def test_requests_are_counted_by_who_asked_and_what_was_done(shipped: Ruleset) -> None:
    metrics = Metrics()
    gptbot = Classification(shipped.catalogue.by_name("GPTBot"), Identity.CLAIMED)
    metrics.request(gptbot, BLOCK, 403, 0.002)
    metrics.request(UNKNOWN, Verdict(Action.ALLOW, "default"), 200, 0.3)
    metrics.request(UNKNOWN, None, None, 1.5)  # an upstream error before any decision
    who = {"agent": "GPTBot", "purpose": "ai-training", "identity": "claimed"}
    assert sample(metrics, "optout_requests_total", **who, action="block", status="403") == 1
    nobody = {"agent": "none", "purpose": "none", "identity": "none"}
    assert sample(metrics, "optout_requests_total", **nobody, action="allow", status="200") == 1
    assert sample(metrics, "optout_requests_total", **nobody, action="error", status="none") == 1
    assert sample(metrics, "optout_request_duration_seconds_bucket", action="allow", le="0.5") == 1
    assert sample(metrics, "optout_request_duration_seconds_bucket", action="allow", le="0.25") == 0
    assert sample(metrics, "optout_request_duration_seconds_count", action="block") == 1


def test_shadow_decisions_are_counted_apart(shipped: Ruleset) -> None:
    metrics = Metrics()
    gptbot = Classification(shipped.catalogue.by_name("GPTBot"), Identity.CLAIMED)
    metrics.request(gptbot, Verdict(Action.ALLOW, "shadow"), 200, 0.01, shadow=BLOCK)
    who = {"agent": "GPTBot", "purpose": "ai-training", "identity": "claimed"}
    assert sample(metrics, "optout_requests_total", **who, action="allow", status="200") == 1
    shadowed = {**who, "action": "block", "rule": "block-ai-training"}
    assert sample(metrics, "optout_shadow_decisions_total", **shadowed) == 1


def test_rules_version_and_reloads() -> None:
    metrics = Metrics()
    metrics.rules_in_force("aaaaaaaaaaaa", 1000.0)
    metrics.rules_in_force("bbbbbbbbbbbb", 2000.0)
    assert sample(metrics, "optout_rules_version_info", version="aaaaaaaaaaaa") == 0
    assert sample(metrics, "optout_rules_version_info", version="bbbbbbbbbbbb") == 1
    assert sample(metrics, "optout_rules_loaded_timestamp_seconds") == 2000
    metrics.reloaded("signal", ok=True)
    assert sample(metrics, "optout_rules_last_reload_success") == 1
    metrics.reloaded("file", ok=False)
    assert sample(metrics, "optout_rules_last_reload_success") == 0
    assert sample(metrics, "optout_reloads_total", reason="signal", result="success") == 1
    assert sample(metrics, "optout_reloads_total", reason="file", result="failure") == 1


def test_log_counters_are_read_at_scrape_time() -> None:
    metrics = Metrics()
    counts = {"written": 0, "lost": 0}
    metrics.track_log(lambda: counts["written"], lambda: counts["lost"])
    counts.update(written=7, lost=2)
    assert sample(metrics, "optout_log_records_written_total") == 7
    assert sample(metrics, "optout_log_records_lost_total") == 2


def test_each_proxy_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.reloaded("admin", ok=True)
    assert sample(second, "optout_reloads_total", reason="admin", result="success") == 0
