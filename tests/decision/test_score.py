"""A client's behaviour signals (high-rate, no-robots-crawl), and rules deciding on the score."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.config.policy import load_policy
from proxy.decision.act import Buckets
from proxy.decision.decide import decide
from proxy.decision.request import decide_request
from proxy.decision.score import (
    BURST,
    CRAWL_PAGES,
    CRAWL_WINDOW,
    RATE,
    ROBOTS_MEMORY,
    Activity,
    client_key,
    is_page,
)
from proxy.errors import Problem
from proxy.model import RESIDENTIAL, Action, Classification, Identity, Network, RequestInfo
from proxy.ruleset import Ruleset

CRAWL, FAST = frozenset({"no-robots-crawl"}), frozenset({"high-rate"})
BOTH, NOTHING = CRAWL | FAST, frozenset[str]()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _pages(activity: Activity, client: str, count: int, clock: Clock, step: float = 1.0) -> list:
    seen = []
    for i in range(count):
        seen.append(activity.observe(client, "GET", f"/releases/{i}"))
        clock.now += step
    return seen


@pytest.mark.parametrize(
    ("method", "path", "page"),
    [
        ("GET", "/", True),
        ("GET", "/releases/aurora-ep", True),
        ("HEAD", "/index.html", True),
        ("GET", "/shop/cart.PHP", True),
        ("GET", "/v1.2/notes", True),  # a dot in an earlier segment is no extension
        ("GET", "/static/site.css", False),
        ("GET", "/audio/preview.mp3", False),
        ("GET", "/cover.jpg", False),
        ("GET", "/sitemap.xml", False),
        ("POST", "/releases/aurora-ep", False),
    ],
)
def test_pages_are_documents_not_subresources(method: str, path: str, page: bool) -> None:
    assert is_page(method, path) is page


def test_a_crawl_without_robots_txt_fires_from_the_tenth_page(clock: Clock) -> None:
    activity = Activity(clock=clock)
    seen = _pages(activity, "192.0.2.1", CRAWL_PAGES + 3, clock)
    assert seen[: CRAWL_PAGES - 1] == [NOTHING] * (CRAWL_PAGES - 1)
    assert seen[CRAWL_PAGES - 1 :] == [CRAWL] * 4
    assert activity.observe("192.0.2.2", "GET", "/releases/0") == NOTHING  # per address


def test_a_crawler_that_read_robots_txt_first_is_not_flagged(clock: Clock) -> None:
    activity = Activity(clock=clock)
    assert activity.observe("192.0.2.1", "GET", "/robots.txt") == NOTHING
    assert set().union(*_pages(activity, "192.0.2.1", 30, clock)) == set()


def test_robots_txt_is_forgotten_after_a_day(clock: Clock) -> None:
    activity = Activity(clock=clock)
    activity.observe("192.0.2.1", "GET", "/robots.txt")
    clock.now += ROBOTS_MEMORY + 1
    assert _pages(activity, "192.0.2.1", CRAWL_PAGES, clock)[-1] == CRAWL


def test_the_same_page_again_and_subresources_never_make_a_crawl(clock: Clock) -> None:
    activity = Activity(clock=clock)
    for _ in range(50):  # a person reloading one page with its images, styles and audio
        for path in ("/releases/aurora-ep", "/cover.jpg", "/site.css", "/preview.mp3"):
            assert activity.observe("192.0.2.1", "GET", path) == NOTHING
        clock.now += 1


def test_pages_spread_over_more_than_the_window_are_no_crawl(clock: Clock) -> None:
    activity = Activity(clock=clock)
    step = CRAWL_WINDOW / (CRAWL_PAGES - 1) + 0.5  # the tenth page falls outside the window
    assert set().union(*_pages(activity, "192.0.2.1", 40, clock, step)) == set()


def test_a_sustained_rate_over_the_limit_is_high_rate(clock: Clock) -> None:
    activity = Activity(clock=clock)
    seen = [activity.observe("192.0.2.1", "GET", "/cover.jpg") for _ in range(BURST + 5)]
    assert seen[:BURST] == [NOTHING] * BURST  # the burst of a page with many images
    assert seen[BURST:] == [FAST] * 5
    clock.now += 1.0
    taken = [activity.observe("192.0.2.1", "GET", "/cover.jpg") for _ in range(int(RATE) + 1)]
    assert taken[: int(RATE)] == [NOTHING] * int(RATE)
    assert taken[-1] == FAST


def test_a_fast_crawl_shows_both(clock: Clock) -> None:
    activity = Activity(clock=clock)
    seen = _pages(activity, "192.0.2.1", BURST + 1, clock, step=0.0)
    assert seen[-1] == BOTH


def test_ipv6_clients_are_their_slash_64(clock: Clock) -> None:
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2::ffff")
    assert client_key("2001:db8:1:2:aaaa::1") != client_key("2001:db8:1:3:aaaa::1")
    assert client_key("not an address") == "not an address"
    activity = Activity(clock=clock)
    seen = [
        activity.observe(f"2001:db8:1:2::{i:x}", "GET", f"/releases/{i}")
        for i in range(CRAWL_PAGES)
    ]
    assert seen[-1] == CRAWL  # rotating through a /64 is still one client
    assert activity.observe("2001:db8:1:3::1", "GET", "/releases/0") == NOTHING


def test_memory_is_bounded_and_the_oldest_client_is_forgotten(clock: Clock) -> None:
    activity = Activity(max_clients=3, clock=clock)
    for i in range(CRAWL_PAGES - 1):
        activity.observe("192.0.2.1", "GET", f"/p/{i}")
    for client in ("192.0.2.2", "192.0.2.3", "192.0.2.4"):
        activity.observe(client, "GET", "/")
    assert len(activity) == 3
    assert activity.observe("192.0.2.1", "GET", "/p/last") == NOTHING  # started again
    with pytest.raises(ValueError, match="max_clients 0"):
        Activity(max_clients=0)


def test_a_path_hash_never_matches_across_two_stored_ones() -> None:
    from proxy.decision.score import _holds

    stored = bytes(range(1, 13))  # the hashes 01020304, 05060708, 090a0b0c
    assert _holds(stored, bytes([5, 6, 7, 8]))
    assert not _holds(stored, bytes([3, 4, 5, 6]))  # the end of one and the start of the next
    assert not _holds(stored, bytes([7, 8, 9, 10]))
    assert not _holds(b"", bytes(4))


def test_no_address_no_signals(clock: Clock) -> None:
    activity = Activity(clock=clock)
    assert {activity.observe("", "GET", f"/{i}") for i in range(BURST * 2)} == {NOTHING}
    assert len(activity) == 0


# The score in decisions


CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
AWS = Network("aws", "EC2", "us-east-1")
NOBODY = Classification(None, Identity.NONE)


def _ruleset(shipped: Ruleset, tmp_path: Path, rules: str) -> Ruleset:
    from dataclasses import replace

    path = tmp_path / "policy.yaml"
    path.write_text("default: allow\nrules:\n" + rules)
    problems: list[Problem] = []
    policy = load_policy(path, shipped.catalogue, problems)
    assert problems == []
    return replace(shipped, policy=policy)


def _request(network: Network, *signals: str, path: str = "/releases/x") -> RequestInfo:
    return RequestInfo(
        "GET",
        "label.example",
        path,
        CHROME,
        "192.0.2.1",
        network=network,
        signals=frozenset(signals),
    )


def test_a_datacenter_browser_with_signals_reaches_the_threshold(
    shipped: Ruleset, tmp_path: Path
) -> None:
    rules = _ruleset(
        shipped,
        tmp_path,
        '  - {name: suspicious, network: datacenter, score: ">= 3", action: block}\n',
    ).policy
    assert decide(rules, _request(AWS, "ua-tls-mismatch"), NOBODY).rule == "suspicious"
    assert decide(rules, _request(AWS, "no-accept-language"), NOBODY).rule == "default"  # 2
    person = _request(Network(RESIDENTIAL), "ua-tls-mismatch", "no-accept-language")  # 3
    assert decide(rules, person, NOBODY).rule == "default"  # not a datacenter
    free = _request(AWS, "ua-tls-mismatch", "automation-token", path="/robots.txt")
    assert decide(rules, free, NOBODY).rule == "always-free"


def test_an_explicit_score_overrides_the_policy_weights(shipped: Ruleset, tmp_path: Path) -> None:
    rules = _ruleset(shipped, tmp_path, '  - {name: calm, score: "< 1", action: block}\n').policy
    assert decide(rules, _request(AWS), NOBODY).rule == "default"  # 1 by the weights
    assert decide(rules, _request(AWS), NOBODY, score=0.5).rule == "calm"


def test_the_decision_carries_the_score_shadow_or_not(shipped: Ruleset, tmp_path: Path) -> None:
    ruleset = _ruleset(shipped, tmp_path, '  - {name: suspicious, score: ">= 3", action: block}\n')
    request = _request(AWS, "ua-tls-mismatch")
    for shadow in (False, True):
        decision = decide_request(
            ruleset.policy,
            request,
            NOBODY,
            {}.get,
            shadow=shadow,
            buckets=Buckets(),
            now=0,
        )
        assert decision.score.total == 3
        assert dict(decision.score.parts) == {"datacenter": 1, "ua-tls-mismatch": 2}
        refused = decision.shadow if shadow else decision.verdict
        assert refused is not None
        assert (refused.action, refused.rule) == (
            Action.BLOCK,
            "suspicious",
        )
