"""The trap in robots.txt: disallowed for every agent, every other permission unchanged."""

from __future__ import annotations

import pytest
from protego import Protego

from proxy.signals.robotstxt import RobotsPolicy, merge

TRAP = "/catalogue/all-x1"
UPSTREAM = b"""User-agent: Googlebot
Allow: /
Disallow: /private/

User-agent: *
Disallow: /admin/

User-agent: Bingbot
"""
AGENTS = ("Googlebot", "Bingbot", "SomeBrowser", "GPTBot")
PATHS = ("/", "/private/a", "/admin/", "/music/track.mp3", "/catalogue/")


def served(upstream: bytes | None, status: int | None, trap: str | None) -> Protego:
    policy = RobotsPolicy(reserved_tokens=("GPTBot",), trap_path=trap)
    return Protego.parse(merge(upstream, status, policy).text)


@pytest.mark.parametrize(
    ("upstream", "status"),
    [(UPSTREAM, 200), (None, 404), (b"", 200), (None, 503)],
    ids=["merged", "no-file", "empty", "upstream-error"],
)
def test_trap_disallowed_for_every_agent_and_nothing_else_changes(
    upstream: bytes | None, status: int | None
) -> None:
    with_trap, without = served(upstream, status, TRAP), served(upstream, status, None)
    for agent in AGENTS:
        assert not with_trap.can_fetch(f"https://label.example{TRAP}", agent), agent
        for path in PATHS:
            url = f"https://label.example{path}"
            assert with_trap.can_fetch(url, agent) == without.can_fetch(url, agent), (agent, path)


def test_no_trap_no_line() -> None:
    assert "all-x1" not in merge(UPSTREAM, 200, RobotsPolicy(("GPTBot",))).text


def test_a_group_that_disallows_it_already_is_left_alone() -> None:
    upstream = f"User-agent: *\nDisallow: {TRAP}\n".encode()
    text = merge(upstream, 200, RobotsPolicy((), trap_path=TRAP)).text
    assert text.count(f"Disallow: {TRAP}") == 1
