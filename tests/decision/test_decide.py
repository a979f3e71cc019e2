"""First matching rule wins; otherwise the explicit default."""

from __future__ import annotations

from decimal import Decimal

import pytest

from proxy.config.policy import Policy
from proxy.config.reservation import Reservation
from proxy.config.rule import Rule
from proxy.decision.decide import decide
from proxy.licensing.tokens import LicenceResult
from proxy.model import Action, Agent, Classification, Identity, Purpose, RequestInfo, Verdict
from proxy.patterns import compile_paths
from proxy.prices import Price

CCBOT = Agent("CCBot", "Common Crawl", Purpose.AI_TRAINING, ("CCBot",), ("CCBot",), "https://x")
POLICY = Policy(
    "Label",
    Reservation(),
    (
        Rule("press-open", Action.ALLOW, paths=compile_paths(["/press/"])),
        Rule("no-training", Action.BLOCK, purposes=frozenset({Purpose.AI_TRAINING})),
        Rule("also-training", Action.ALLOW, purposes=frozenset({Purpose.AI_TRAINING})),
    ),
    Verdict(Action.ALLOW, "default"),
)


def _decide(path: str, agent: Agent | None) -> Verdict:
    found = Classification(agent, Identity.CLAIMED if agent else Identity.NONE)
    return decide(POLICY, RequestInfo("GET", "label.example", path, ""), found)


def test_first_match_wins() -> None:
    assert _decide("/press/kit.zip", CCBOT) == Verdict(Action.ALLOW, "press-open")
    assert _decide("/music/", CCBOT) == Verdict(Action.BLOCK, "no-training")


def test_default_when_nothing_matches() -> None:
    assert _decide("/music/", None) == Verdict(Action.ALLOW, "default")
    blocking = Policy("", Reservation(), (), Verdict(Action.BLOCK, "default"))
    found = Classification(None, Identity.NONE)
    assert decide(blocking, RequestInfo("GET", "h", "/", ""), found).action is Action.BLOCK


def test_the_reservation_is_always_readable() -> None:
    for path in ("/robots.txt", "/.well-known/tdmrep.json", "/ai.txt", "/security.txt"):
        assert _decide(path, CCBOT) == Verdict(Action.ALLOW, "always-free")
    assert _decide("/robots.txt.bak", CCBOT).action is Action.BLOCK


@pytest.mark.parametrize(
    "path",
    [
        "/sitemap.xml",
        "/sitemap_index.xml",
        "/sitemap-posts.2.xml",
        "/sitemap.xml.gz",
        "/license.xml",  # the RSL document, where the policy puts it
        "/.well-known/security.txt",
    ],
)
def test_sitemaps_and_the_licence_are_always_free(path: str) -> None:
    # a blocked crawler must still find the sitemaps and the licence it could buy
    assert _decide_blocked(path) == Verdict(Action.ALLOW, "always-free")


@pytest.mark.parametrize(
    "path", ["/sitemap.xml.bak", "/music/sitemap.xml", "/sitemap.html", "/sitemaps/", "/license"]
)
def test_look_alikes_are_not_free(path: str) -> None:
    assert _decide_blocked(path) == Verdict(Action.BLOCK, "default")


def _decide_blocked(path: str) -> Verdict:
    """The verdict for CCBot under a policy that blocks everything by default."""
    policy = Policy("", Reservation(rsl_path="/license.xml"), (), Verdict(Action.BLOCK, "default"))
    found = Classification(CCBOT, Identity.CLAIMED)
    return decide(policy, RequestInfo("GET", "label.example", path, ""), found)


def test_a_valid_licence_allows_in_the_licensees_name() -> None:
    found = Classification(CCBOT, Identity.CLAIMED)
    request = RequestInfo("GET", "label.example", "/music/", "")
    valid = LicenceResult(True, "Acme", "t1")
    assert decide(POLICY, request, found, valid) == Verdict(
        Action.ALLOW, "licence", licensee="Acme"
    )
    invalid = LicenceResult(False, "Acme", "t1", "expired")
    assert decide(POLICY, request, found, invalid) == Verdict(Action.BLOCK, "no-training")


def test_the_verdict_carries_the_rules_price_and_rate() -> None:
    price = Price("USD", Decimal("0.01"))
    policy = Policy(
        "",
        Reservation(),
        (
            Rule("pay", Action.CHARGE, paths=compile_paths(["/pay/"]), price=price),
            Rule("slow", Action.THROTTLE, rate=(2.0, 5), per_client=True),
        ),
        Verdict(Action.ALLOW, "default"),
    )
    found = Classification(CCBOT, Identity.CLAIMED)
    charged = decide(policy, RequestInfo("GET", "h", "/pay/x", ""), found)
    assert charged == Verdict(Action.CHARGE, "pay", price=price)
    throttled = decide(policy, RequestInfo("GET", "h", "/other", ""), found)
    assert throttled == Verdict(Action.THROTTLE, "slow", rate=(2.0, 5), per_client=True)
