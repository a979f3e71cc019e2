"""`action: challenge` rules: their fields load, and each mistake names file, line, rule, field."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from paths import ROOT

from proxy.config.policy import load_policy
from proxy.errors import Problem
from proxy.model import Action, ChallengeSpec
from proxy.ruleset import Ruleset, load_rules

HEAD = "default: allow\nrules:\n  - name: check-browsers\n    path: /\n    action: challenge\n"


def _load(tmp_path: Path, shipped: Ruleset, text: str) -> tuple[list[Problem], object]:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    problems: list[Problem] = []
    return problems, load_policy(path, shipped.catalogue, problems)


def test_fields_load_into_the_rule(tmp_path: Path, shipped: Ruleset) -> None:
    fields = (
        "    difficulty: 20\n    nojs: true\n    nojs_delay: 3\n    ttl: 2h\n"
        "    ipv4_prefix: 16\n    ipv6_prefix: 56\n    non_html: allow\n"
    )
    problems, policy = _load(tmp_path, shipped, HEAD + fields)
    assert problems == []
    rule = policy.rules[0]  # type: ignore[attr-defined]
    assert rule.action is Action.CHALLENGE
    assert rule.challenge == ChallengeSpec(20, 3, 7200, 16, 56, "allow")


def test_defaults(tmp_path: Path, shipped: Ruleset) -> None:
    problems, policy = _load(tmp_path, shipped, HEAD)
    assert problems == []
    assert policy.rules[0].challenge == ChallengeSpec()


@pytest.mark.parametrize(
    ("fields", "line", "field", "message"),
    [
        ("    difficulty: 0\n", 6, "difficulty", "whole number from 1 to 32, not 0"),
        ("    difficulty: 33\n", 6, "difficulty", "from 1 to 32"),
        ("    difficulty: '4'\n", 6, "difficulty", "whole number"),
        ("    difficulty: true\n", 6, "difficulty", "whole number"),
        ("    nojs: yes please\n", 6, "nojs", "true or false"),
        ("    nojs_delay: 3\n", 6, "nojs_delay", "only a rule with 'nojs: true'"),
        ("    nojs: true\n    nojs_delay: 61\n", 7, "nojs_delay", "from 1 to 60"),
        ("    ttl: 8d\n", 6, "ttl", "at most 7d"),
        ("    ttl: forever\n", 6, "ttl", "duration"),
        ("    ipv4_prefix: 33\n", 6, "ipv4_prefix", "from 8 to 32"),
        ("    ipv6_prefix: 8\n", 6, "ipv6_prefix", "from 16 to 128"),
        ("    non_html: page-or-not\n", 6, "non_html", "refuse, allow, page"),
    ],
)
def test_bad_fields_are_located(
    tmp_path: Path, shipped: Ruleset, fields: str, line: int, field: str, message: str
) -> None:
    problems, _ = _load(tmp_path, shipped, HEAD + fields)
    text = "\n".join(str(p) for p in problems)
    assert len(problems) == 1, text
    assert problems[0].field == field
    assert problems[0].rule == 'rule 1 ("check-browsers")'
    assert re.search(rf"policy\.yaml:{line}: .*{re.escape(message)}", text), text


def test_challenge_fields_on_another_action_are_refused(tmp_path: Path, shipped: Ruleset) -> None:
    text = (
        "default: allow\nrules:\n  - name: b\n    path: /\n    action: block\n    difficulty: 4\n"
    )
    problems, _ = _load(tmp_path, shipped, text)
    assert [(p.line, p.field) for p in problems] == [(6, "difficulty")]
    assert "only a rule with action 'challenge'" in str(problems[0])


def test_the_shipped_policy_challenges_nobody_and_the_example_loads(tmp_path: Path) -> None:
    shipped = load_rules(ROOT / "rules")
    assert all(r.action is not Action.CHALLENGE for r in shipped.policy.rules)
    assert shipped.policy.default.action is not Action.CHALLENGE
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    shutil.copy(ROOT / "rules" / "examples" / "challenge.yaml", rules / "policy.yaml")
    example = load_rules(rules)
    challenge = [r for r in example.policy.rules if r.action is Action.CHALLENGE]
    assert [r.name for r in challenge] == ["challenge-datacenter"]
    assert challenge[0].networks == frozenset({"datacenter"})
    assert challenge[0].challenge == ChallengeSpec(16, 5, 24 * 3600, 24, 48, "refuse")
