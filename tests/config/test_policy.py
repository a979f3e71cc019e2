"""Policy validation: every bad fixture names its file, line, rule and field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from proxy.config.policy import load_policy
from proxy.errors import Problem
from proxy.model import Action, Identity, Purpose
from proxy.ruleset import Ruleset

DATA = Path(__file__).parent / "testdata"


def _expectation(path: Path) -> str:
    first = path.read_text().splitlines()[0] if path.read_text() else ""
    assert first.startswith("# expect: "), f"{path} must start with '# expect: <regex>'"
    return first.removeprefix("# expect: ")


@pytest.mark.parametrize("path", sorted((DATA / "bad").glob("*.yaml")), ids=lambda p: p.stem)
def test_bad_policy_is_reported_with_location(path: Path, shipped: Ruleset) -> None:
    problems: list[Problem] = []
    load_policy(path, shipped.catalogue, problems)
    messages = "\n".join(str(p) for p in problems)
    expect = _expectation(path)
    pattern = re.escape(str(path)) + expect if expect.startswith(":") else expect
    assert re.search(pattern, messages), f"expected {pattern!r} in:\n{messages}"
    assert all(p.file == str(path) for p in problems)


@pytest.mark.parametrize("path", sorted((DATA / "good").glob("*.yaml")), ids=lambda p: p.stem)
def test_good_policy_loads_without_problems(path: Path, shipped: Ruleset) -> None:
    problems: list[Problem] = []
    load_policy(path, shipped.catalogue, problems)
    assert problems == []


def test_all_problems_are_collected(tmp_path: Path, shipped: Ruleset) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "rules:\n"
        "  - name: a\n    purpose: nope\n    action: block\n"
        "  - name: b\n    agent: Nobody\n    action: zap\n"
    )
    problems: list[Problem] = []
    load_policy(policy, shipped.catalogue, problems)
    fields = sorted((p.rule or "", p.field) for p in problems)
    assert fields == [
        ("", "default"),
        ('rule 1 ("a")', "purpose"),
        ('rule 2 ("b")', "action"),
        ('rule 2 ("b")', "agent"),
    ]


def test_all_matchers_compile(shipped: Ruleset) -> None:
    problems: list[Problem] = []
    policy = load_policy(DATA / "good" / "all-matchers.yaml", shipped.catalogue, problems)
    assert policy.default.action is Action.BLOCK
    press, openai = policy.rules
    assert press.paths is not None
    assert press.paths.match("/press/kit.zip")
    assert press.paths.match("/a/b/c.pdf")
    assert not press.paths.match("/a/b/c.pdf.html")
    assert openai.agents == frozenset({"gptbot", "chatgpt-user"})
    assert openai.methods == frozenset({"GET", "HEAD"})
    assert openai.purposes == frozenset({Purpose.AI_TRAINING, Purpose.AI_ASSISTANT})
    assert openai.identities == frozenset({Identity.CLAIMED, Identity.VERIFIED, Identity.SPOOFED})
    assert policy.reservation.usage(True) == (("train-ai", "n"), ("search", "y"))
    assert policy.reservation.x_robots_tag == ("noai", "noimageai", "noarchive")


def test_shipped_policy_blocks_spoofs_and_ai_training_and_allows_the_rest(
    shipped: Ruleset,
) -> None:
    policy = shipped.policy
    assert policy.default.action is Action.ALLOW
    assert [(r.name, r.identities, r.purposes, r.action) for r in policy.rules] == [
        ("block-spoofed", frozenset({Identity.SPOOFED}), None, Action.BLOCK),
        ("block-ai-training", None, frozenset({Purpose.AI_TRAINING}), Action.BLOCK),
        ("block-flagged", None, None, Action.BLOCK),
    ]
    assert policy.rules[2].flagged == {"trap"}
    assert policy.reservation.enabled


@pytest.mark.parametrize(
    ("value", "enforce"), [("", True), ("enforce: true\n", True), ("enforce: false\n", False)]
)
def test_enforce_turns_shadow_mode_on_or_off(
    tmp_path: Path, shipped: Ruleset, value: str, enforce: bool
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(value + "rules: []\ndefault: allow\n")
    problems: list[Problem] = []
    assert load_policy(policy, shipped.catalogue, problems).enforce is enforce
    assert problems == []


def test_enforce_must_be_a_boolean(tmp_path: Path, shipped: Ruleset) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("enforce: no-thanks\ndefault: allow\n")
    problems: list[Problem] = []
    assert load_policy(policy, shipped.catalogue, problems).enforce is True
    assert [str(p) for p in problems] == [
        f"{policy}:1: enforce: must be true or false, not 'no-thanks'"
    ]
