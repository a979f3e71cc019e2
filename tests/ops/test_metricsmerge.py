"""Merging the workers' /metrics: sums where they add up, and never a false counter reset."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from proxy.model import Classification, Identity
from proxy.ops.metrics import Metrics
from proxy.ops.metricsmerge import Totals, merge, parse, render


def sample(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    return None


def worker(
    requests: int, *, written: int, reloaded: bool = True, seconds: float = 0.003
) -> Metrics:
    metrics = Metrics()
    metrics.rules_in_force("abc123", loaded_at=1000.0)
    metrics.reloaded("signal", ok=reloaded)
    metrics.track_log(lambda: written, lambda: 0)
    for _ in range(requests):
        metrics.request(Classification(None, Identity.NONE), None, 200, seconds)
    return metrics


def merged_text(*workers: Metrics, totals: Totals | None = None) -> str:
    parsed = [parse(w.render().decode()) for w in workers]
    if totals is not None:
        parsed.append(totals.retired)
    return render(merge(parsed)).decode()


def test_counters_and_histograms_add_up() -> None:
    text = merged_text(worker(3, written=3), worker(5, written=5, seconds=0.2))
    labels = {"agent": "none", "purpose": "none", "identity": "none", "action": "error"}
    assert sample(text, "optout_requests_total", **labels, status="200") == 8
    assert sample(text, "optout_log_records_written_total") == 8
    assert sample(text, "optout_request_duration_seconds_count", action="error") == 8
    assert sample(text, "optout_request_duration_seconds_bucket", action="error", le="0.005") == 3
    assert sample(text, "optout_request_duration_seconds_bucket", action="error", le="+Inf") == 8
    assert sample(text, "optout_reloads_total", reason="signal", result="success") == 2


def test_gauges_are_not_added() -> None:
    text = merged_text(worker(1, written=1), worker(1, written=1, reloaded=False))
    assert sample(text, "optout_rules_version_info", version="abc123") == 1
    assert sample(text, "optout_rules_loaded_timestamp_seconds") == 1000.0
    assert sample(text, "optout_rules_last_reload_success") == 0  # one worker failed: 0


def test_a_dead_workers_counts_are_kept() -> None:
    totals = Totals()
    before = parse(merged_text(worker(4, written=4), worker(6, written=6)))
    gone = parse(worker(4, written=4).render().decode())
    totals.retire(gone)  # worker 1 died after it was scraped at 4; its successor starts at 0
    after = merged_text(worker(0, written=0), worker(6, written=6), totals=totals)
    assert sample(after, "optout_log_records_written_total") == 10
    assert (
        before["optout_log_records_written"].samples
        == parse(after)["optout_log_records_written"].samples
    )
    # Only counts are kept from the dead: its gauges went with it.
    assert "optout_rules_version_info" not in totals.retired


def test_the_merge_renders_a_valid_exposition_that_parses_back_the_same() -> None:
    families = merge([parse(worker(2, written=2).render().decode())])
    again = parse(render(families).decode())
    assert {n: f.samples for n, f in again.items()} == {n: f.samples for n, f in families.items()}
