"""Path and host patterns, and the AND semantics of a rule's matchers."""

from __future__ import annotations

import re

import pytest

from proxy.config.rule import Rule
from proxy.model import Action, Agent, Classification, Identity, Purpose, RequestInfo
from proxy.patterns import compile_hosts, compile_paths


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("/press/", "/press/", True),
        ("/press/", "/press/kit.zip", True),
        ("/press/", "/pressure", False),
        ("/press", "/pressure", True),  # robots.txt semantics: a plain pattern is a prefix
        ("*.mp3", "/media/a.mp3", True),
        ("*.mp3", "/media/a.mp3.html", True),
        ("*.mp3$", "/media/a.mp3.html", False),
        ("*.mp3$", "/media/a.mp3", True),
        ("/a/*/c", "/a/b/b/c", True),
        ("/a/*/c", "/x/a/b/c", False),
        ("/", "/anything", True),
        ("/Press/", "/press/", False),  # case-sensitive, as in robots.txt
        ("/a.b", "/aXb", False),  # regex characters are literal
    ],
)
def test_path_patterns(pattern: str, path: str, matches: bool) -> None:
    assert (compile_paths([pattern]).match(path) is not None) is matches


@pytest.mark.parametrize(
    ("pattern", "host", "matches"),
    [
        ("label.example", "label.example", True),
        ("label.example", "www.label.example", False),
        ("*.label.example", "www.label.example", True),
        ("*.label.example", "a.b.label.example", True),
        ("*.label.example", "label.example", False),
        ("*.label.example", "evil-label.example", False),
        ("LABEL.example", "label.example", True),
        ("*", "anything.test", True),
    ],
)
def test_host_patterns(pattern: str, host: str, matches: bool) -> None:
    assert (compile_hosts([pattern]).fullmatch(host) is not None) is matches


@pytest.mark.parametrize(
    ("patterns", "error"),
    [
        (["press/"], "must start with '/' or '\\*'"),
        (["/a b"], "must not contain whitespace"),
        (["/a$/b"], "only allowed at the end"),
    ],
)
def test_bad_path_patterns(patterns: list[str], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        compile_paths(patterns)


@pytest.mark.parametrize("pattern", ["label.*", "a..b", "-a.example", "a_b.example", "http://x"])
def test_bad_host_patterns(pattern: str) -> None:
    with pytest.raises(ValueError, match="is not a host name"):
        compile_hosts([pattern])


GPTBOT = Agent("GPTBot", "OpenAI", Purpose.AI_TRAINING, ("GPTBot",), ("GPTBot",), "https://x")


def _request(path: str = "/", method: str = "GET", host: str = "label.example") -> RequestInfo:
    return RequestInfo(method, host, path, "ua")


def test_matchers_are_anded() -> None:
    rule = Rule(
        "r",
        Action.BLOCK,
        purposes=frozenset({Purpose.AI_TRAINING}),
        paths=compile_paths(["/music/"]),
        methods=frozenset({"GET"}),
    )
    claimed = Classification(GPTBOT, Identity.CLAIMED)
    assert rule.matches(_request("/music/a.mp3"), claimed)
    assert not rule.matches(_request("/press/"), claimed)
    assert not rule.matches(_request("/music/a.mp3", method="POST"), claimed)
    assert not rule.matches(_request("/music/a.mp3"), Classification(None, Identity.NONE))


def test_agent_matchers_never_match_requests_without_agent() -> None:
    nobody = Classification(None, Identity.NONE)
    for rule in (
        Rule("a", Action.BLOCK, agents=frozenset({"gptbot"})),
        Rule("o", Action.BLOCK, operators=frozenset({"OpenAI"})),
        Rule("p", Action.BLOCK, purposes=frozenset(Purpose)),
    ):
        assert not rule.matches(_request(), nobody)
    assert Rule("i", Action.BLOCK, identities=frozenset({Identity.NONE})).matches(
        _request(), nobody
    )


def test_pathological_pattern_finishes_quickly() -> None:
    # With a backtracking engine this takes longer than the age of the universe; RE2
    # (used for patterns with several '*') is linear. A timeout would be a timed
    # assertion; counting instead that the match returns at all under pytest's run
    # is enough, since the backtracking version never returns.
    matcher = compile_paths(["/*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b"])
    assert matcher.match("/" + "a" * 8000) is None
    assert matcher.match("/" + "a" * 30 + "b") is not None


@pytest.mark.parametrize(
    ("patterns", "path", "matches"),
    [
        (["/a/*/b/*.mp3$"], "/a/x/b/y.mp3", True),
        (["/a/*/b/*.mp3$"], "/a/x/b/y.mp3.html", False),
        (["/a/*/b/*", "/press/"], "/press/kit", True),
        (["/x~y&z#*q*"], "/x~y&z#1q2", True),
    ],
)
def test_multi_wildcard_patterns(patterns: list[str], path: str, matches: bool) -> None:
    assert (compile_paths(patterns).match(path) is not None) is matches


def test_a_list_of_hosts_matches_each_of_them() -> None:
    hosts = compile_hosts(["label.example", "*.cdn.example", "Other.Example"])
    for host in ("label.example", "img.cdn.example", "other.example"):
        assert hosts.fullmatch(host) is not None, host
    for host in ("cdn.example", "label.example.evil", "xlabel.example"):
        assert hosts.fullmatch(host) is None, host


@pytest.mark.parametrize(
    ("patterns", "backtracking"),
    [
        (["/press/", "*.mp3$"], True),  # one '*' each: linear in Python's engine
        (["/a/*/b/*"], False),  # two already backtrack quadratically on a hostile path
        (["/press/", "/*a*b"], False),  # one such pattern puts the whole list on RE2
    ],
)
def test_patterns_with_several_stars_get_the_linear_engine(
    patterns: list[str], backtracking: bool
) -> None:
    assert isinstance(compile_paths(patterns), re.Pattern) is backtracking


CLAUDEBOT = Agent(
    "ClaudeBot", "Anthropic", Purpose.AI_TRAINING, ("ClaudeBot",), ("ClaudeBot",), "https://x"
)


@pytest.mark.parametrize(
    ("rule", "host", "agent", "matches"),
    [
        (Rule("a", Action.BLOCK, agents=frozenset({"gptbot"})), "label.example", GPTBOT, True),
        (Rule("a", Action.BLOCK, agents=frozenset({"gptbot"})), "label.example", CLAUDEBOT, False),
        (Rule("o", Action.BLOCK, operators=frozenset({"OpenAI"})), "label.example", GPTBOT, True),
        (
            Rule("o", Action.BLOCK, operators=frozenset({"OpenAI"})),
            "label.example",
            CLAUDEBOT,
            False,
        ),
        (
            Rule("h", Action.BLOCK, hosts=compile_hosts(["*.label.example"])),
            "A.Label.Example",
            GPTBOT,
            True,
        ),
        (
            Rule("h", Action.BLOCK, hosts=compile_hosts(["*.label.example"])),
            "label.example",
            GPTBOT,
            False,
        ),
        (
            Rule("h", Action.BLOCK, hosts=compile_hosts(["label.example"])),
            "other.example",
            GPTBOT,
            False,
        ),
    ],
)
def test_each_matcher_tells_its_match_from_another(
    rule: Rule, host: str, agent: Agent, matches: bool
) -> None:
    found = Classification(agent, Identity.CLAIMED)
    assert rule.matches(_request(host=host), found) is matches
