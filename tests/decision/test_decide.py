"""First matching rule wins; otherwise the explicit default."""

from __future__ import annotations

from proxy.config.policy import Policy
from proxy.config.reservation import Reservation
from proxy.config.rule import Rule
from proxy.decision.decide import decide
from proxy.model import Action, Agent, Classification, Identity, Purpose, RequestInfo, Verdict
from proxy.patterns import compile_paths

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
