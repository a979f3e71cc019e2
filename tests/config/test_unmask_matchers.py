"""The network, signals, flagged and identity: undeclared matchers, and their validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.config.policy import load_policy
from proxy.config.rule import Rule, Vocabulary, network_matches
from proxy.errors import Problem, RuleError
from proxy.model import RESIDENTIAL, Action, Classification, Identity, Network, RequestInfo
from proxy.ruleset import Ruleset, load_rules
from tests.paths import RULES

AWS = Network("aws", "EC2", "us-east-1")
GPTBOT_RANGE = Network("azure", None, None, "openai-gptbot", "OpenAI")
HOME = Network(RESIDENTIAL)
VOCABULARY = Vocabulary(frozenset({"aws", "azure"}), frozenset({"headless"}), frozenset({"trap"}))


@pytest.mark.parametrize(
    ("wanted", "network", "matches"),
    [
        ({"datacenter"}, AWS, True),
        ({"datacenter"}, HOME, False),
        ({"datacenter"}, None, False),  # not looked up: never a datacenter
        ({"aws"}, AWS, True),
        ({"aws"}, GPTBOT_RANGE, False),
        ({"azure"}, GPTBOT_RANGE, True),
        ({"crawler-range"}, GPTBOT_RANGE, True),
        ({"crawler-range"}, AWS, False),
        ({"crawler-range"}, Network(RESIDENTIAL, None, None, "x", None), True),
        ({"hetzner", "aws"}, AWS, True),
    ],
)
def test_network_matches(wanted: set[str], network: Network | None, matches: bool) -> None:
    assert network_matches(frozenset(wanted), network) is matches


def _request(**fields: object) -> RequestInfo:
    return RequestInfo("GET", "label.example", "/", "Mozilla/5.0", "192.0.2.1", **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rule", "request_fields", "matches"),
    [
        (Rule("r", Action.BLOCK, signals=frozenset({"a", "b"})), {"signals": frozenset("b")}, True),
        (Rule("r", Action.BLOCK, signals=frozenset({"a"})), {"signals": frozenset()}, False),
        (
            Rule("r", Action.BLOCK, flagged=frozenset({"trap"})),
            {"flagged": frozenset({"trap"})},
            True,
        ),
        (Rule("r", Action.BLOCK, flagged=frozenset({"trap"})), {}, False),
        (Rule("r", Action.BLOCK, networks=frozenset({"aws"})), {"network": AWS}, True),
        (
            Rule("r", Action.BLOCK, networks=frozenset({"aws"}), signals=frozenset({"x"})),
            {"network": AWS},
            False,  # matchers are ANDed
        ),
    ],
    ids=["signal-any", "signal-none", "flag", "no-flag", "network", "and"],
)
def test_rule_matches_what_the_request_showed(
    rule: Rule, request_fields: dict[str, object], matches: bool
) -> None:
    assert rule.matches(_request(**request_fields), Classification(None, Identity.NONE)) is matches


def test_identity_undeclared_matches(shipped: Ruleset) -> None:
    rule = Rule("r", Action.BLOCK, identities=frozenset({Identity.UNDECLARED}))
    gptbot = shipped.catalogue.by_name("GPTBot")
    assert rule.matches(_request(), Classification(gptbot, Identity.UNDECLARED))
    assert not rule.matches(_request(), Classification(gptbot, Identity.VERIFIED))


def _policy(tmp_path: Path, rule: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(f"rules:\n  - name: r\n    action: block\n{rule}default: allow\n")
    return path


@pytest.mark.parametrize(
    ("rule", "field", "message"),
    [
        ("    network: moon\n", "network", "unknown network 'moon'; expected one of aws, azure, "),
        ("    network: []\n", "network", "must be a string or a non-empty list"),
        ("    signals: [headless, nope]\n", "signals", "unknown signal 'nope'; expected one of"),
        ("    flagged: honeypot\n", "flagged", "unknown flag 'honeypot'; expected one of trap"),
        ("    identity: hidden\n", "identity", "unknown identity 'hidden'; expected one of"),
    ],
)
def test_bad_matcher_is_located(
    tmp_path: Path, shipped: Ruleset, rule: str, field: str, message: str
) -> None:
    path = _policy(tmp_path, rule)
    problems: list[Problem] = []
    load_policy(path, shipped.catalogue, problems, VOCABULARY)
    assert [(p.line, p.field) for p in problems] == [(4, field)]
    assert message in problems[0].message


def test_good_matchers_compile(tmp_path: Path, shipped: Ruleset) -> None:
    rule = "    network: [datacenter, crawler-range, aws]\n    signals: headless\n"
    rule += "    flagged: trap\n    identity: undeclared\n"
    problems: list[Problem] = []
    policy = load_policy(_policy(tmp_path, rule), shipped.catalogue, problems, VOCABULARY)
    assert problems == []
    (compiled,) = policy.rules
    assert compiled.networks == frozenset({"datacenter", "crawler-range", "aws"})
    assert compiled.signals == frozenset({"headless"})
    assert compiled.flagged == frozenset({"trap"})
    assert compiled.identities == frozenset({Identity.UNDECLARED})


def _rules_dir(tmp_path: Path, policy: str) -> Path:
    for name in ("agents", "ipranges", "networks"):
        (tmp_path / name).symlink_to(RULES / name)
    (tmp_path / "policy.yaml").write_text(policy)
    return tmp_path


def test_check_names_the_vocabulary_of_the_rules_directory(tmp_path: Path) -> None:
    """`optout check`: providers come from rules/networks, signals from part B's table."""
    policy = "rules:\n  - name: r\n    action: block\n    network: hetzner\n"
    policy += "    signals: [ua-tls-mismatch, bogus]\ndefault: allow\n"
    with pytest.raises(RuleError) as raised:
        load_rules(_rules_dir(tmp_path, policy))
    (problem,) = raised.value.problems
    assert (problem.file, problem.line, problem.field) == (
        str(tmp_path / "policy.yaml"),
        5,
        "signals",
    )
    assert "unknown signal 'bogus'" in problem.message


def test_shipped_providers_are_valid_network_names(tmp_path: Path) -> None:
    policy = (
        "rules:\n  - name: r\n    action: block\n    network: [aws, gcp, azure, hetzner, hosting]\n"
    )
    ruleset = load_rules(_rules_dir(tmp_path, policy + "default: allow\n"))
    assert ruleset.policy.rules[0].networks == frozenset(
        {"aws", "gcp", "azure", "hetzner", "hosting"}
    )
