"""Read one sample of the Prometheus text the metrics render."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from proxy.ops.metrics import Metrics


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    text = metrics.render().decode()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    return 0.0
