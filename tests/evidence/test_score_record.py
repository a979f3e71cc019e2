"""The record's `optout.score` and `optout.score_parts`: small, and only what counted."""

from __future__ import annotations

import json
from typing import Any

from proxy.config.weights import Score, Weights
from proxy.evidence.record import build_record
from proxy.model import Action, Classification, Identity, Network, RequestInfo, Verdict

REQUEST = RequestInfo(
    "GET",
    "label.example",
    "/",
    "Mozilla/5.0",
    "3.5.140.9",
    network=Network("aws", "S3", "ap-northeast-2"),
    signals=frozenset({"ua-tls-mismatch"}),
)
NOBODY = Classification(None, Identity.NONE)


def _record(score: Score | None) -> dict[str, Any]:
    record = build_record(
        started=0.0,
        duration_ns=0,
        request=REQUEST,
        found=NOBODY,
        verdict=Verdict(Action.ALLOW, "default"),
        status=200,
        body_bytes=0,
        signals=(),
        score=score,
    )
    return json.loads(json.dumps(record))  # what the log line holds


def test_the_record_has_the_score_and_its_parts() -> None:
    optout = _record(Weights().score(REQUEST, NOBODY))["optout"]
    assert optout["score"] == 3
    assert optout["score_parts"] == {"datacenter": 1, "ua-tls-mismatch": 2}
    assert optout["signals_seen"] == ["ua-tls-mismatch"]


def test_a_zero_score_has_no_parts_and_an_undecided_request_no_score() -> None:
    assert "score_parts" not in _record(Score(0))["optout"]
    assert _record(Score(0))["optout"]["score"] == 0
    assert "score" not in _record(None)["optout"]


def test_fractional_weights_stay_numbers() -> None:
    optout = _record(Score(0.75, (("residential", -0.25), ("trap", 1.0))))["optout"]
    assert optout["score"] == 0.75
    assert optout["score_parts"] == {"residential": -0.25, "trap": 1.0}
