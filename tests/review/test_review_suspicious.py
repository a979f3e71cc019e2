"""The "undeclared and suspicious" section: summary (text and JSON) and the HTML report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from proxy.review import query, report
from proxy.review.summary import summarise
from proxy.review.suspicious import SUSPICIOUS_FIELDS, find_suspicious
from tests.review.conftest import run_cli

CHROME = "Mozilla/5.0 (Macintosh) AppleWebKit/537.36 Chrome/131.0.0.0 Safari/537.36"


def _record(day: int, action: str = "allow", **optout: Any) -> dict[str, Any]:
    return {
        "@timestamp": f"2026-11-{day:02d}T09:00:00.000Z",
        "event": {"action": action},
        "url": {"domain": "label.example", "path": "/"},
        "user_agent": {"original": CHROME},
        "http": {"response": {"status_code": 403 if action == "block" else 200}},
        "optout": {"agent": None, "identity": "none", **optout},
    }


HOME = {"network": {"provider": "residential/unknown"}}
LOG = [
    _record(1, **HOME),  # a person: not suspicious
    _record(1, **HOME, agent="GPTBot", identity="claimed"),  # declares itself: not either
    _record(1, network={"provider": "aws", "service": "EC2"}),  # a browser in AWS
    _record(1, network={"provider": "aws"}, signals_seen=["ua-tls-mismatch"]),
    _record(
        2,
        "block",
        agent="GPTBot",
        identity="undeclared",
        network={"provider": "azure"},
        crawler_range="openai-gptbot",
        undeclared_operator="OpenAI",
    ),
    _record(2, "block", **HOME, flagged=["trap"], client_family="python-requests"),
    _record(3, "block", **HOME, trap="hit", client_family="python-requests"),
]


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "access.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in LOG))
    return path


def test_the_section_counts_what_the_claim_hid(log: Path) -> None:
    con = query.connect([log], fields=(*SUSPICIOUS_FIELDS, "action"))
    found = find_suspicious(con)
    assert (found.requests, found.trap_hits) == (5, 1)
    (undeclared,) = found.undeclared
    assert (undeclared.operator, undeclared.crawler_range, undeclared.blocked) == (
        "OpenAI",
        "openai-gptbot",
        1,
    )
    groups = {(g.provider, g.client_family, g.signals): g.requests for g in found.groups}
    assert groups == {
        ("aws", "-", ""): 1,
        ("aws", "-", "ua-tls-mismatch"): 1,
        ("azure", "-", ""): 1,
        ("residential/unknown", "python-requests", ""): 2,
    }
    assert [(d.day, d.requests, d.undeclared, d.trap_hits) for d in found.days] == [
        ("2026-11-01", 2, 0, 0),
        ("2026-11-02", 2, 1, 0),
        ("2026-11-03", 1, 0, 1),
    ]


def test_a_window_limits_the_section(log: Path) -> None:
    summary = summarise([log], since="2026-11-02", until="2026-11-03", unmask=True)
    assert summary.suspicious is not None
    assert summary.suspicious.requests == 2
    assert summarise([log]).suspicious is None


def test_logs_summary_prints_and_exports_it(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["logs", "summary", str(log)]) == 0
    text = capsys.readouterr().out
    assert "Undeclared and suspicious: 5 request(s), 1 trap hit(s)" in text
    assert "OpenAI" in text
    assert "ua-tls-mismatch" in text
    assert run_cli(["logs", "summary", str(log), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["suspicious"]["undeclared_operators"][0]["operator"] == "OpenAI"
    assert doc["suspicious"]["trap_hits"] == 1


def test_the_report_has_the_section(log: Path, tmp_path: Path) -> None:
    page = report.build([log], tmp_path / "state", lambda name: (name,))
    assert '<section id="undeclared-suspicious">' in page
    assert '<table id="undeclared">' in page
    assert "openai-gptbot" in page
    assert "python-requests" in page


def test_the_report_says_when_there_is_nothing(tmp_path: Path) -> None:
    path = tmp_path / "access.jsonl"
    path.write_text(json.dumps(_record(1, **HOME)) + "\n")
    page = report.build([path], tmp_path / "state", lambda name: (name,))
    assert 'id="suspicious-empty"' in page
