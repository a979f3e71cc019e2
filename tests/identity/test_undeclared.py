"""Undeclared: an operator's crawler range, a user agent naming none of its agents."""

from __future__ import annotations

import pytest

from proxy.identity.classify import classify
from proxy.identity.undeclared import range_agent, undeclared
from proxy.model import RESIDENTIAL, Identity, Network, Purpose, RequestInfo
from proxy.ruleset import Ruleset

CHROME = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
GPTBOT_UA = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; GPTBot/1.1; +https://openai.com/gptbot"
GPTBOT_RANGE = Network("azure", None, None, "openai-gptbot", "OpenAI")


def _request(user_agent: str, network: Network | None) -> RequestInfo:
    return RequestInfo("GET", "label.example", "/", user_agent, "20.171.206.5", network=network)


@pytest.mark.parametrize(
    ("user_agent", "network", "identity", "agent"),
    [
        (CHROME, GPTBOT_RANGE, Identity.UNDECLARED, "GPTBot"),
        ("", GPTBOT_RANGE, Identity.UNDECLARED, "GPTBot"),
        (
            "Googlebot/2.1 (+http://www.google.com/bot.html)",
            GPTBOT_RANGE,
            Identity.UNDECLARED,
            "GPTBot",
        ),
        (GPTBOT_UA, GPTBOT_RANGE, Identity.CLAIMED, "GPTBot"),  # its own: verification decides
        (CHROME, Network("aws"), Identity.NONE, None),
        (CHROME, Network(RESIDENTIAL), Identity.NONE, None),
        (CHROME, None, Identity.NONE, None),
        # A range no agent of the catalogue fetches from names no operator.
        (CHROME, Network(RESIDENTIAL, None, None, "unused-range", None), Identity.NONE, None),
    ],
    ids=["chrome", "empty-ua", "other-operator", "own-agent", "aws", "home", "no-lookup", "orphan"],
)
def test_classify_undeclared(
    shipped: Ruleset,
    user_agent: str,
    network: Network | None,
    identity: Identity,
    agent: str | None,
) -> None:
    found = classify(shipped.catalogue, _request(user_agent, network))
    assert (found.identity, found.name) == (identity, agent)


def test_the_most_restrictive_agent_of_a_range_is_chosen(shipped: Ruleset) -> None:
    gptbot = shipped.catalogue.by_name("GPTBot")
    assert gptbot is not None
    assert range_agent(shipped.catalogue.agents, "openai-gptbot") is gptbot
    assert gptbot.purpose is Purpose.AI_TRAINING
    assert range_agent(shipped.catalogue.agents, "nobody") is None


def test_a_range_whose_operator_has_no_agent_there_is_not_undeclared(shipped: Ruleset) -> None:
    network = Network(RESIDENTIAL, None, None, "openai-gptbot", "Someone Else")
    assert undeclared(shipped.catalogue.agents, network, None) is not None
    assert undeclared((), network, None) is None
