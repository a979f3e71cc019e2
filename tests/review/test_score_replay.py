"""`optout replay` recomputes the suspicion score from what each record holds."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from proxy.config.policy import load_policy
from proxy.errors import Problem
from proxy.review.replay import Change, render, replay, request_of
from proxy.ruleset import Ruleset

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"


def _record(path: str, rule: str, action: str, **optout: Any) -> dict[str, Any]:
    return {
        "@timestamp": "2026-12-04T10:00:00.000Z",
        "event": {"action": action},
        "source": {"ip": "anon-1f2e3d"},  # a person's pseudonym: no address to look up again
        "url": {"domain": "label.example", "path": path},
        "http": {"request": {"method": "GET"}, "response": {"status_code": 200}},
        "user_agent": {"original": CHROME},
        "optout": {"agent": None, "identity": "none", "rule": rule, **optout},
    }


AWS = {"provider": "aws", "service": "EC2", "region": "us-east-1"}
HOME = {"provider": "residential/unknown"}
LOG = [
    # datacenter 1 + no-accept-language 1 = 2: under the old threshold of 3
    _record("/a", "default", "allow", network=AWS, signals_seen=["no-accept-language"], score=2),
    # datacenter 1 + high-rate 1 = 2: the behaviour signal is taken as recorded
    _record("/b", "default", "allow", network=AWS, signals_seen=["high-rate"], score=2),
    # residential 0 + trap 3 = 3: not a datacenter
    _record("/c", "default", "allow", network=HOME, flagged=["trap"], score=3),
    # logged before scoring: no score, no behaviour signals
    _record("/d", "default", "allow", network=AWS),
    # not looked up (no network): no network class
    _record("/e", "default", "allow", signals_seen=["automation-token"], score=2),
]


def _ruleset(shipped: Ruleset, tmp_path: Path, weights: str) -> Ruleset:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "default: allow\n"
        f"suspicion: {{{weights}}}\n"
        "rules:\n"
        '  - {name: suspicious, network: datacenter, score: ">= 3", action: block}\n'
    )
    problems: list[Problem] = []
    policy = load_policy(path, shipped.catalogue, problems)
    assert problems == []
    return replace(shipped, policy=policy)


def test_the_request_keeps_network_signals_and_flags() -> None:
    request = request_of(LOG[0])
    assert request is not None
    assert request.network is not None
    assert (request.network.provider, request.network.service) == ("aws", "EC2")
    assert request.signals == frozenset({"no-accept-language"})
    assert request_of(LOG[2]).flagged == frozenset({"trap"})  # type: ignore[union-attr]
    assert request_of(LOG[4]).network is None  # type: ignore[union-attr]
    odd = _record("/x", "default", "allow", network={"provider": 3}, signals_seen="trap")
    assert (request_of(odd).network, request_of(odd).signals) == (None, frozenset())  # type: ignore[union-attr]


def test_the_same_weights_change_nothing(shipped: Ruleset, tmp_path: Path) -> None:
    result = replay(LOG, _ruleset(shipped, tmp_path, ""))
    assert result.changes == {}
    assert (result.rescored, result.unscored) == (0, 1)


def test_heavier_weights_change_decisions_and_say_how(shipped: Ruleset, tmp_path: Path) -> None:
    result = replay(LOG, _ruleset(shipped, tmp_path, "no-accept-language: 2, high-rate: 2"))
    assert result.changes == {Change("allow", "default", "block", "suspicious"): 2}
    assert [
        e["path"] for e in result.examples[Change("allow", "default", "block", "suspicious")]
    ] == [
        "/a",
        "/b",
    ]
    assert (result.rescored, result.unscored, result.unchanged) == (2, 1, 3)
    text = render(result)
    assert "2  allow (default) -> block (suspicious)" in text
    assert "e.g. (no agent) /a at 2026-12-04T10:00:00.000Z (score 3)" in text
    assert "2 scores changed" in text
    assert "taken as recorded (not recomputable offline): the behaviour signals high-rate" in text
    assert "1 records have no optout.score (logged before scoring)" in text


def test_a_heavier_network_class_reaches_unscored_records_too(
    shipped: Ruleset, tmp_path: Path
) -> None:
    result = replay(LOG, _ruleset(shipped, tmp_path, "datacenter: 3"))
    changed = result.examples[Change("allow", "default", "block", "suspicious")]
    assert [e["path"] for e in changed] == ["/a", "/b", "/d"]
    assert result.rescored == 2  # /d had no score to differ from
