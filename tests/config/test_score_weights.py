"""Weighted suspicion in the policy: the weights, the `score:` matcher, and their errors."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from paths import RULES

from proxy.config.policy import load_policy
from proxy.config.rule import Threshold, parse_threshold
from proxy.config.weights import DEFAULT_WEIGHTS, Score, Weights, network_class, parse_weight
from proxy.decision import score as activity
from proxy.decision.trap import TRAP
from proxy.errors import Problem
from proxy.identity.consistency import SIGNALS
from proxy.model import RESIDENTIAL, Classification, Identity, Network, RequestInfo
from proxy.ruleset import Ruleset

AWS = Network("aws", "EC2", "us-east-1")
GPTBOT_RANGE = Network("azure", crawler_range="openai-gptbot", crawler_operator="OpenAI")
HOME = Network(RESIDENTIAL)
NOBODY = Classification(None, Identity.NONE)


def _policy(tmp_path: Path, shipped: Ruleset, text: str) -> tuple[object, list[str]]:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    problems: list[Problem] = []
    policy = load_policy(path, shipped.catalogue, problems)
    problems.sort(key=lambda p: p.line or 0)  # as `optout check` prints them
    return policy, [str(p).replace(str(path), "policy.yaml") for p in problems]


def _request(network: Network | None = None, **fields: frozenset[str]) -> RequestInfo:
    return RequestInfo("GET", "label.example", "/", "ua", "192.0.2.1", network=network, **fields)


def test_every_signal_the_proxy_makes_has_a_default_weight_and_no_other() -> None:
    made = SIGNALS | activity.SIGNALS | {TRAP, "spoofed", "undeclared"}
    assert set(DEFAULT_WEIGHTS) == made | {"datacenter", "crawler-range", "residential"}


def test_the_shipped_policy_states_the_defaults(shipped: Ruleset) -> None:
    assert dict(shipped.policy.suspicion.weights) == dict(DEFAULT_WEIGHTS)
    text = (RULES / "policy.yaml").read_text()
    assert "\nsuspicion:\n" in text  # the section a rule author edits, not only a comment


def test_the_shipped_policy_has_no_score_rule(shipped: Ruleset) -> None:
    """The score changes nothing for ordinary traffic until an operator writes a rule."""
    assert all(rule.score is None for rule in shipped.policy.rules)


@pytest.mark.parametrize(
    ("network", "signals", "flagged", "identity", "total", "parts"),
    [
        (None, set(), set(), Identity.NONE, 0, {}),  # not looked up: no network class
        (HOME, set(), set(), Identity.NONE, 0, {}),  # residential weighs 0: left out
        (AWS, set(), set(), Identity.NONE, 1, {"datacenter": 1}),
        (GPTBOT_RANGE, set(), set(), Identity.UNDECLARED, 3, {"crawler-range": 1, "undeclared": 2}),
        (
            AWS,
            {"ua-tls-mismatch", "no-accept-language"},
            set(),
            Identity.NONE,
            4,
            {"datacenter": 1, "ua-tls-mismatch": 2, "no-accept-language": 1},
        ),
        (HOME, {"high-rate", "no-robots-crawl"}, {"trap"}, Identity.NONE, 5, None),
        (AWS, set(), set(), Identity.SPOOFED, 4, {"datacenter": 1, "spoofed": 3}),
        (AWS, set(), set(), Identity.CLAIMED, 1, {"datacenter": 1}),  # only two identities weigh
        (AWS, {"a-signal-nobody-weighs"}, set(), Identity.NONE, 1, {"datacenter": 1}),
    ],
)
def test_the_score_is_the_sum_of_the_weights_shown(
    network: Network | None,
    signals: set[str],
    flagged: set[str],
    identity: Identity,
    total: float,
    parts: dict[str, float] | None,
) -> None:
    request = _request(network, signals=frozenset(signals), flagged=frozenset(flagged))
    score = Weights().score(request, Classification(None, identity))
    assert score.total == total
    assert sum(w for _, w in score.parts) == total
    if parts is not None:
        assert dict(score.parts) == parts
        assert list(dict(score.parts)) == [n for n in DEFAULT_WEIGHTS if n in parts]  # fixed order


def test_the_record_keeps_the_total_and_only_what_counted() -> None:
    assert Score(0).fields() == {"score": 0}
    score = Weights().score(_request(AWS, signals=frozenset({"automation-token"})), NOBODY)
    assert score.fields() == {"score": 3, "score_parts": {"datacenter": 1, "automation-token": 2}}


def test_negative_and_fractional_weights_sum_as_written() -> None:
    weights = Weights({**DEFAULT_WEIGHTS, "residential": -0.5, "no-accept-language": 0.25})
    score = weights.score(_request(HOME, signals=frozenset({"no-accept-language"})), NOBODY)
    assert score.total == pytest.approx(-0.25)


def test_network_class_is_one_per_address() -> None:
    assert network_class(AWS) == "datacenter"
    assert network_class(HOME) == "residential"
    assert network_class(GPTBOT_RANGE) == "crawler-range"  # not datacenter as well
    assert network_class(Network(RESIDENTIAL, crawler_range="x")) == "crawler-range"


def test_ceiling_counts_one_network_class_and_every_positive_weight() -> None:
    assert Weights().ceiling() == 1 + 2 + 1 + 1 + 2 + 1 + 1 + 3 + 3 + 2 == 17
    weights = Weights({"datacenter": 5, "crawler-range": 2, "residential": -1, "trap": -3})
    assert weights.ceiling() == 5
    assert weights.floor() == -4
    assert Weights().floor() == 0


@pytest.mark.parametrize(
    ("text", "threshold"),
    [
        (">= 3", Threshold(">=", 3)),
        (">3", Threshold(">", 3)),
        ("  <  1.5 ", Threshold("<", 1.5)),
        ("<= -2", Threshold("<=", -2)),
        ("<=0", Threshold("<=", 0)),
    ],
)
def test_thresholds_parse(text: str, threshold: Threshold) -> None:
    assert parse_threshold(text) == threshold


@pytest.mark.parametrize(
    ("threshold", "score", "accepted"),
    [
        (">= 3", 3, True),
        (">= 3", 2.999, False),
        ("> 3", 3, False),
        ("> 3", 3.5, True),
        ("< 1", 0, True),
        ("< 1", 1, False),
        ("<= 1", 1, True),
        ("<= -1", 0, False),
    ],
)
def test_thresholds_compare(threshold: str, score: float, accepted: bool) -> None:
    assert parse_threshold(threshold).accepts(score) is accepted


@pytest.mark.parametrize(
    "text", ["3", "=> 3", "== 3", ">= three", ">= 3 4", "≥ 3", ">= 1e3", ">= inf", ">= nan", ""]
)
def test_malformed_thresholds_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="operator and a number"):
        parse_threshold(text)


def test_a_bare_number_is_refused_with_the_spelling_to_use() -> None:
    with pytest.raises(ValueError, match=r"ambiguous: '>= 3'\?$"):
        parse_threshold(3)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ua-tls-missmatch", 1, "unknown signal 'ua-tls-missmatch'; did you mean ua-tls-mismatch?"),
        ("data-center", 1, "did you mean datacenter?"),
        ("xyzzy", 1, "unknown signal 'xyzzy' (signals: crawler-range, datacenter"),
        ("trap", "3", "weight of trap must be a number, not '3'"),
        ("trap", True, "must be a number, not True"),
        ("trap", None, "must be a number, not None"),
        ("trap", math.inf, "must be a finite number"),
        ("trap", -math.inf, "must be a finite number"),
        ("trap", math.nan, "must be a finite number"),
        ("trap", 1001, "from -1000 to 1000, not 1001"),
    ],
)
def test_bad_weights_name_the_signal(name: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match="weight|signal") as caught:
        parse_weight(name, value)
    assert message in str(caught.value)


def test_a_policy_sets_some_weights_and_keeps_the_others(shipped: Ruleset, tmp_path: Path) -> None:
    policy, problems = _policy(
        tmp_path,
        shipped,
        "default: allow\nrules: []\nsuspicion:\n  datacenter: 2.5\n  residential: -1\n",
    )
    assert problems == []
    weights = policy.suspicion.weights  # type: ignore[attr-defined]
    assert (weights["datacenter"], weights["residential"], weights["trap"]) == (2.5, -1, 3)
    assert (type(weights["datacenter"]), type(weights["residential"])) == (float, int)  # plain


def test_policy_errors_name_file_line_and_field(shipped: Ruleset, tmp_path: Path) -> None:
    _, problems = _policy(
        tmp_path,
        shipped,
        "default: allow\n"
        "suspicion:\n"
        "  datacentre: 1\n"
        "  trap: .inf\n"
        "  spoofed: .nan\n"
        "  undeclared: true\n"
        "rules:\n"
        "  - name: high\n"
        "    network: datacenter\n"
        '    score: "=> 3"\n'
        "    action: block\n"
        "  - {name: bare, score: 3, action: block}\n",
    )
    assert problems[0] == (
        "policy.yaml:3: suspicion.datacentre: unknown signal 'datacentre'; did you mean "
        "datacenter? (signals: " + ", ".join(DEFAULT_WEIGHTS) + ")"
    )
    assert problems[1].startswith("policy.yaml:4: suspicion.trap: weight of trap must be a finite")
    assert problems[2].startswith("policy.yaml:5: suspicion.spoofed: weight of spoofed must be a")
    assert problems[3] == (
        "policy.yaml:6: suspicion.undeclared: weight of undeclared must be a number, not True"
    )
    assert problems[4].startswith(
        "policy.yaml:10: rule 1 (\"high\"): score: threshold '=> 3' must be an operator"
    )
    assert problems[5].startswith("policy.yaml:12: rule 2 (\"bare\"): score: threshold '3' must")
    assert problems[5].endswith("a bare number is ambiguous: '>= 3'?")
    assert len(problems) == 6


def test_suspicion_must_be_a_mapping(shipped: Ruleset, tmp_path: Path) -> None:
    _, problems = _policy(tmp_path, shipped, "default: allow\nrules: []\nsuspicion: [trap]\n")
    assert problems == ["policy.yaml:3: suspicion: must be a mapping of signal names to weights"]


def test_a_threshold_no_request_can_reach_is_an_error(shipped: Ruleset, tmp_path: Path) -> None:
    _, problems = _policy(
        tmp_path,
        shipped,
        "default: allow\n"
        "suspicion: {trap: 0, spoofed: 0}\n"
        "rules:\n"
        "  - {name: fine, score: '>= 11', action: block}\n"
        "  - name: never\n"
        "    score: '> 11'\n"
        "    action: block\n"
        "  - {name: low, score: '< 100', action: allow}\n"
        "  - {name: nothing-is-negative, score: '< 0', action: allow}\n"
        "  - {name: zero, score: '<= 0', action: allow}\n",
    )
    # 17 by default; without trap and spoofed at most 11: '>= 11' can match, '> 11' cannot.
    assert problems == [
        'policy.yaml:6: rule 2 ("never"): score: no request can reach > 11: '
        "the weights sum to at most 11",
        'policy.yaml:9: rule 4 ("nothing-is-negative"): score: no request can reach < 0: '
        "the weights sum to at least 0",
    ]


def test_score_alone_is_a_matcher_and_reads_with_others(shipped: Ruleset, tmp_path: Path) -> None:
    policy, problems = _policy(
        tmp_path,
        shipped,
        "default: allow\nrules:\n"
        '  - {name: suspicious, network: datacenter, score: ">= 3", action: block}\n'
        '  - {name: calm, score: "< 1", action: allow}\n',
    )
    assert problems == []
    first, second = policy.rules  # type: ignore[attr-defined]
    assert (first.score, first.networks) == (Threshold(">=", 3), frozenset({"datacenter"}))
    found = NOBODY
    assert first.matches(_request(AWS), found, 3)
    assert not first.matches(_request(AWS), found, 2)
    assert not first.matches(_request(HOME), found, 5)  # both matchers must match
    assert second.matches(_request(), found, 0.5)


def test_an_unquoted_greater_than_gets_a_hint(shipped: Ruleset, tmp_path: Path) -> None:
    _, problems = _policy(
        tmp_path,
        shipped,
        "default: allow\nrules:\n  - name: x\n    score: >= 3\n    action: block\n",
    )
    assert len(problems) == 1
    assert problems[0].startswith("policy.yaml:4: invalid YAML:")
    assert problems[0].endswith(
        """a value starting with '>' needs quotes, such as score: ">= 3\""""
    )
