"""The report shows challenges issued, passed and failed, and nothing of them without any."""

from __future__ import annotations

import re
from pathlib import Path

from loggen import LogBuilder, at
from paths import RULES

from tests.review.conftest import run_cli


def _challenge(b: LogBuilder, minutes: float, outcome: str, reason: str, status: int) -> None:
    record = {
        "@timestamp": at(minutes),
        "event": {"kind": "event", "action": "challenge", "duration": 1, "outcome": "failure"},
        "source": {"ip": "203.0.113.9"},
        "url": {"domain": "label.example", "path": "/releases/x"},
        "http": {"request": {"method": "GET"}, "response": {"status_code": status}},
        "user_agent": {"original": "Mozilla/5.0"},
        "optout": {
            "agent": None,
            "identity": "none",
            "rule": "challenge-datacenter",
            "signals": [],
            "outcome": outcome,
            "challenge": {"reason": reason},
        },
    }
    b._write(record, minutes)


def _tiles(b: LogBuilder, tmp_path: Path) -> dict[str, str]:
    b.write()
    out = tmp_path / "report.html"
    argv = ["logs", "report", str(b.log), "--out", str(out), "--state", str(b.state)]
    assert run_cli([*argv, "--rules", str(RULES)]) == 0
    return dict(re.findall(r'id="tile-([a-z-]+)"><div class="value">([^<]+)<', out.read_text()))


def test_report_counts_challenges(tmp_path: Path) -> None:
    b = LogBuilder(tmp_path)
    b.request(0, None, "/")
    _challenge(b, 1, "challenged", "none", 403)
    _challenge(b, 2, "challenged", "not-a-page", 403)
    _challenge(b, 3, "challenge-passed", "solved", 303)
    _challenge(b, 4, "challenge-passed", "cookie", 200)
    _challenge(b, 5, "challenge-failed", "answer-replayed", 403)
    tiles = _tiles(b, tmp_path)
    assert tiles["challenged"] == "2"
    assert tiles["challenges-passed"] == "2"
    assert tiles["challenges-failed"] == "1"
    assert tiles["requests"] == "6"


def test_no_challenge_tiles_without_challenges(tmp_path: Path) -> None:
    b = LogBuilder(tmp_path)
    b.request(0, None, "/")
    assert "challenged" not in _tiles(b, tmp_path)
