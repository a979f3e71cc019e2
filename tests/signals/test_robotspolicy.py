"""What the served robots.txt must say, derived from the policy and the catalogue."""

from __future__ import annotations

import dataclasses

from proxy.config.policy import Policy
from proxy.config.reservation import Override, Reservation
from proxy.config.rule import Rule
from proxy.model import Action, Purpose, Verdict
from proxy.patterns import compile_hosts, compile_paths
from proxy.ruleset import Ruleset
from proxy.signals.robotspolicy import robots_policy, writable
from proxy.signals.robotstxt import RobotsPolicy


def test_the_shipped_policy_reserves_against_the_training_crawlers(shipped: Ruleset) -> None:
    found = robots_policy(shipped.policy, shipped.catalogue, "label.example")
    assert {"GPTBot", "CCBot", "ClaudeBot", "Google-Extended"} <= set(found.reserved_tokens)
    assert not {"Googlebot", "Bingbot"} & set(found.reserved_tokens)  # search stays open
    assert found.content_usage == "train-ai=n"
    assert found.content_signal == "search=yes, ai-train=no, ai-input=no"
    assert found.licences == ("https://label.example/licensing",)
    assert found.content_usage_paths == ()


def test_tokens_follow_the_rules_for_the_host(shipped: Ruleset) -> None:
    rule = Rule(
        "shop-only",
        Action.BLOCK,
        purposes=frozenset({Purpose.AI_TRAINING}),
        hosts=compile_hosts(["shop.label.example"]),
    )
    policy = Policy("", Reservation(), (rule,), Verdict(Action.ALLOW, "default"))
    assert (
        "GPTBot" in robots_policy(policy, shipped.catalogue, "shop.label.example").reserved_tokens
    )
    assert robots_policy(policy, shipped.catalogue, "label.example").reserved_tokens == ()


def test_paths_answered_otherwise_get_their_own_content_usage(shipped: Ruleset) -> None:
    press = Override("press", False, ("/press/",), (), compile_paths(["/press/"]))
    vault = Override("vault", True, ("/vault/",), (), compile_paths(["/vault/"]))
    reservation = Reservation(reserved=True, overrides=(press, vault))
    policy = dataclasses.replace(shipped.policy, reservation=reservation)
    found = robots_policy(policy, shipped.catalogue, "label.example")
    # /vault/ says what the whole site says: no line of its own
    assert found.content_usage_paths == (("/press/", "train-ai=y"),)
    assert found.licences == ()


def test_a_disabled_reservation_keeps_the_blocks_but_sends_no_signals(shipped: Ruleset) -> None:
    policy = dataclasses.replace(shipped.policy, reservation=Reservation(enabled=False))
    found = robots_policy(policy, shipped.catalogue, "label.example")
    tokens = robots_policy(shipped.policy, shipped.catalogue, "label.example").reserved_tokens
    assert found == RobotsPolicy(tokens, None, None)


def test_only_tokens_no_substring_parser_can_confuse_are_written(shipped: Ruleset) -> None:
    found = robots_policy(shipped.policy, shipped.catalogue, "label.example").reserved_tokens
    # Spaces and versions are not one product token; Google's parser would read "Linguee".
    assert not {"Brightbot 1.0", "Sidetrade indexer bot", "Linguee Bot"} & set(found)
    assert "Brightbot" in found
    # Inside the tokens of agents left open: Baiduspider, BaiduImagespider.
    assert not {"Spider", "imageSpider"} & set(found)


def test_a_token_inside_an_open_agents_token_is_left_out() -> None:
    assert writable("GPTBot", {"googlebot", "baiduspider"})
    assert not writable("spider", {"baiduspider"})
    assert not writable("Kangaroo Bot", set())
    assert not writable("iaskspider/2.0", set())
