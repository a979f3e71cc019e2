"""One request decided: licence check → decide → shadow → act, as the proxy and classify do."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from proxy.config.licences import Licences
from proxy.config.policy import Policy
from proxy.config.reservation import Reservation
from proxy.config.rule import Rule
from proxy.decision.act import Answer, Buckets, PassThrough
from proxy.decision.request import SHADOWED, Decision, decide_request
from proxy.licensing import tokens
from proxy.model import Action, Agent, Classification, Identity, Purpose, RequestInfo, Verdict
from proxy.prices import Price

NOW = 1_800_000_000.0
KEY = tokens.generate_key()
PRICE = Price("USD", Decimal("0.01"))


def _agent(name: str, purpose: Purpose) -> Agent:
    return Agent(name, "Op", purpose, (name,), (name,), "https://x")


TRAINER = _agent("GPTBot", Purpose.AI_TRAINING)
SEARCHER = _agent("SearchBot", Purpose.AI_SEARCH)
SEO = _agent("SeoBot", Purpose.SEO)
SCRAPER = _agent("Scraper", Purpose.OTHER)
POLICY = Policy(
    "Label",
    Reservation(licence="https://label.example/licence"),
    (
        Rule("licensed-training", Action.LICENCE, agents=frozenset({"gptbot"})),
        Rule("charge-search", Action.CHARGE, purposes=frozenset({Purpose.AI_SEARCH}), price=PRICE),
        Rule("slow-seo", Action.THROTTLE, purposes=frozenset({Purpose.SEO}), rate=(1 / 60, 1)),
        Rule("block-other", Action.BLOCK, purposes=frozenset({Purpose.OTHER})),
    ),
    Verdict(Action.ALLOW, "default"),
    licences=Licences(public_keys=(KEY.public_key(),)),
)
VALID = "License " + tokens.issue(
    KEY,
    licensee="Acme AI",
    agents=["GPTBot"],
    paths=["/"],
    expires=datetime.fromtimestamp(NOW + 86400, UTC),
)
VERIFIED, CLAIMED = Identity.VERIFIED, Identity.CLAIMED


def _decide(
    agent: Agent | None,
    headers: dict[str, str] | None = None,
    *,
    path: str = "/music/",
    identity: Identity = CLAIMED,
    shadow: bool = False,
    policy: Policy = POLICY,
    buckets: Buckets | None = None,
) -> Decision:
    found = Classification(agent, identity if agent else Identity.NONE)
    request = RequestInfo("GET", "label.example", path, "ua", "203.0.113.1")
    return decide_request(
        policy,
        request,
        found,
        (headers or {}).get,
        shadow=shadow,
        buckets=buckets or Buckets(),
        now=NOW,
    )


def _status(decision: Decision) -> int | None:
    return decision.act.status if isinstance(decision.act, Answer) else None


@pytest.mark.parametrize(
    ("agent", "headers", "identity", "rule", "outcome", "status"),
    [
        (None, {}, CLAIMED, "default", "allowed", None),
        (TRAINER, {}, CLAIMED, "licensed-training", "licence-required", 401),
        (TRAINER, {"authorization": VALID}, CLAIMED, "licence", "licensed", None),
        (TRAINER, {"authorization": "License nonsense"}, CLAIMED, "licensed-training",
         "licence-required", 401),
        (SEARCHER, {"crawler-max-price": "USD 0.05"}, VERIFIED, "charge-search", "charged", None),
        (SEARCHER, {}, VERIFIED, "charge-search", "payment-required", 402),
        (SEARCHER, {"crawler-max-price": "USD 0.05"}, CLAIMED, "charge-search", "not-chargeable",
         403),
        (SEO, {}, CLAIMED, "slow-seo", "allowed", None),
        (SCRAPER, {}, CLAIMED, "block-other", "blocked", 403),
    ],
)  # fmt: skip
def test_enforced(
    agent: Agent | None,
    headers: dict[str, str],
    identity: Identity,
    rule: str,
    outcome: str,
    status: int | None,
) -> None:
    decision = _decide(agent, headers, identity=identity)
    assert (decision.verdict.rule, decision.act.outcome, _status(decision)) == (
        rule,
        outcome,
        status,
    )
    assert decision.shadow is None


def test_the_licence_check_is_kept_for_the_log() -> None:
    valid = _decide(TRAINER, {"authorization": VALID})
    assert valid.licence is not None
    assert valid.licence.ok
    assert valid.verdict.licensee == "Acme AI"
    refused = _decide(TRAINER, {"authorization": "License nonsense"})
    assert refused.licence is not None
    assert not refused.licence.ok
    assert _decide(TRAINER).licence is None
    charged = _decide(SEARCHER, {"crawler-max-price": "USD 0.05"}, identity=VERIFIED).act
    assert isinstance(charged, PassThrough)
    assert charged.charged == PRICE


@pytest.mark.parametrize("how", ["flag", "policy"])
@pytest.mark.parametrize(
    ("agent", "headers", "escaped"),
    [
        (TRAINER, {}, Verdict(Action.LICENCE, "licensed-training")),
        (SEARCHER, {}, Verdict(Action.CHARGE, "charge-search", PRICE)),
        (SCRAPER, {}, Verdict(Action.BLOCK, "block-other")),
        (SEO, {}, Verdict(Action.THROTTLE, "slow-seo", rate=(1 / 60, 1))),
    ],
)
def test_shadow_mode_applies_no_refusal(
    how: str, agent: Agent, headers: dict[str, str], escaped: Verdict
) -> None:
    relaxed = dataclasses.replace(POLICY, enforce=False)
    decision = _decide(
        agent, headers, shadow=how == "flag", policy=relaxed if how == "policy" else POLICY
    )
    assert decision.verdict == SHADOWED
    assert decision.shadow == escaped
    assert decision.act == PassThrough("allowed")


@pytest.mark.parametrize(
    ("agent", "headers", "path", "rule", "outcome"),
    [
        (None, {}, "/music/", "default", "allowed"),
        (TRAINER, {"authorization": VALID}, "/music/", "licence", "licensed"),
        (SCRAPER, {}, "/robots.txt", "always-free", "allowed"),
    ],
)
def test_shadow_mode_leaves_what_is_allowed_alone(
    agent: Agent | None, headers: dict[str, str], path: str, rule: str, outcome: str
) -> None:
    decision = _decide(agent, headers, path=path, shadow=True)
    assert (decision.verdict.rule, decision.act.outcome, decision.shadow) == (rule, outcome, None)


def test_throttle_state_carries_across_requests_and_shadow_uses_none() -> None:
    buckets = Buckets()
    first, second = (_decide(SEO, buckets=buckets) for _ in range(2))
    assert (first.act.outcome, second.act.outcome, _status(second)) == (
        "allowed",
        "throttled",
        429,
    )
    fresh = Buckets()
    for _ in range(3):
        assert _decide(SEO, shadow=True, buckets=fresh).act.outcome == "allowed"
    assert fresh.by_rule == {}  # shadow requests took no token
    assert _decide(SEO, buckets=fresh).act.outcome == "allowed"
