"""The shipped Grafana dashboard and Prometheus alerts refer only to metrics the proxy exports.

promtool (Debian's `prometheus` package) checks the alert rules and runs their unit
tests, alerts_test.yml; `make test` runs this file, so a renamed metric or a broken
rule fails there, not in an operator's Prometheus.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from paths import ROOT
from prometheus_client.parser import text_string_to_metric_families
from ruamel.yaml import YAML

from proxy.model import Action, Classification, Identity, Verdict
from proxy.ops.metrics import Metrics

DASHBOARD = ROOT / "deploy" / "grafana" / "optout.json"
ALERTS = ROOT / "deploy" / "prometheus"
METRIC = re.compile(r"\b(optout_[a-z0-9_]+|up)\b")
# Metrics only Prometheus itself makes.
PROMETHEUS_OWN = {"up"}


def exported() -> set[str]:
    """Every sample name the proxy's /metrics can show (with _total, _bucket, ...)."""
    metrics = Metrics()
    metrics.track_log(lambda: 1, lambda: 0)
    found, allowed = Classification(None, Identity.NONE), Verdict(Action.ALLOW, "default")
    metrics.request(found, allowed, 200, 0.1, shadow=Verdict(Action.BLOCK, "no-ai"))
    metrics.reloaded("signal", ok=True)
    metrics.timestamps.labels("tsa.example", "success").inc()
    metrics.checkpoints.labels("gap").inc()
    names = set()
    for family in text_string_to_metric_families(metrics.render().decode()):
        names.update(s.name for s in family.samples)
    return names


def dashboard_queries() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


def alert_queries() -> list[str]:
    groups = YAML(typ="safe").load((ALERTS / "alerts.yml").read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


QUERIES = [("grafana", q) for q in dashboard_queries()] + [("alerts", q) for q in alert_queries()]


@pytest.mark.parametrize(
    ("where", "query"), QUERIES, ids=[f"{w}-{i}" for i, (w, _) in enumerate(QUERIES)]
)
def test_every_query_names_an_exported_metric(where: str, query: str) -> None:
    names = set(METRIC.findall(query))
    assert names, query
    missing = names - (exported() | PROMETHEUS_OWN)
    assert not missing, f"{where}: {query}: {missing} not exported"


def test_the_dashboard_covers_what_operators_watch() -> None:
    text = " ".join(dashboard_queries())
    for needle in ("by (action)", "by (purpose)", 'action="block"', "spoofed|undeclared",
                   "optout_log_records_lost_total", "optout_reloads_total",
                   "optout_request_duration_seconds_bucket", "502|504"):  # fmt: skip
        assert needle in text
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "optout-proxy"
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is missing: apt-get install prometheus (.ci/run installs it)")
    return subprocess.run(
        [promtool, *args], cwd=ALERTS, capture_output=True, text=True, timeout=60, check=False
    )


def test_promtool_checks_the_rules() -> None:
    done = _promtool("check", "rules", "alerts.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 7 rules found" in done.stdout


def test_promtool_unit_tests_pass() -> None:
    done = _promtool("test", "rules", "alerts_test.yml")
    assert done.returncode == 0, done.stdout + done.stderr
