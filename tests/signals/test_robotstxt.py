"""robots.txt merge: status mapping, group surgery, robustness and the size limit.

Permissions are asserted with protego rather than by comparing strings, so a test
fails when a crawler would read the file differently, not when whitespace moves.
"""

from __future__ import annotations

import dataclasses

import pytest
from protego import Protego

from proxy.signals.robotstxt import MAX_LINE_BYTES, MergedRobots, RobotsPolicy, merge

POLICY = RobotsPolicy(
    reserved_tokens=("GPTBot", "CCBot", "Google-Extended"),
    licences=("https://label.example/rsl.xml",),
    comment=("Contact: rights@label.example",),
)
USAGE = "Content-Usage: train-ai=n"
SIGNAL = "Content-Signal: search=yes, ai-train=no, ai-input=no"
URL = "https://label.example"


def _merge(body: str | bytes, status: int | None = 200, **kw: object) -> MergedRobots:
    data = body.encode() if isinstance(body, str) else body
    return merge(data, status, dataclasses.replace(POLICY, **kw))  # type: ignore[arg-type]


def _can(text: str, agent: str, path: str = "/") -> bool:
    return Protego.parse(text).can_fetch(URL + path, agent)


def _directives(text: str) -> list[tuple[str, str]]:
    """(field, value) of each directive line, comments and blank lines left out."""
    out = []
    for line in text.splitlines():
        body = line.split("#", 1)[0].strip()
        key, colon, value = body.partition(":")
        if not colon and body:  # protego's and Google's `Disallow /x`
            key, _, value = body.partition(" ")
        if body:
            out.append((key.strip().lower(), value.strip()))
    return out


def _groups(text: str) -> list[tuple[list[str], list[str]]]:
    """RFC 9309 groups: (agents, other group lines); only Allow/Disallow close agents."""
    groups: list[tuple[list[str], list[str]]] = []
    closed = True
    for key, value in _directives(text):
        if key == "user-agent":
            if closed:
                groups.append(([], []))
            groups[-1][0].append(value)
            closed = False
        elif groups and key not in ("sitemap", "license"):
            groups[-1][1].append(f"{key}: {value}")
            closed = closed or key in ("allow", "disallow")
    return groups


def _assert_well_formed(text: str) -> None:
    """Every group has a rule, carries our signals once, and the file ends with LF."""
    assert text.endswith("\n")
    assert "\r" not in text
    for agents, lines in _groups(text):
        assert any(x.startswith(("allow:", "disallow:")) for x in lines), agents
        assert lines.count(USAGE.lower()) == 1, agents
        assert lines.count(SIGNAL.lower()) == 1, agents


# --- status mapping (standards.md §6 pitfall 6, RFC 9309 §2.3.1) ---------------------

UPSTREAM = "User-agent: *\nDisallow: /private\n"


@pytest.mark.parametrize(
    ("body", "status", "expect"),
    [
        (UPSTREAM, 200, "merged"),
        (UPSTREAM, 204, "merged"),
        (b"", 200, "own"),
        (None, 200, "own"),
        (UPSTREAM, 301, "own"),
        (UPSTREAM, 403, "own"),
        (UPSTREAM, 404, "own"),
        (UPSTREAM, 410, "own"),
        (UPSTREAM, 429, "closed"),
        (UPSTREAM, 500, "closed"),
        (UPSTREAM, 503, "closed"),
        (None, None, "closed"),
        (UPSTREAM, None, "closed"),
        (UPSTREAM, 102, "closed"),
    ],
)
def test_status_mapping(body: str | None, status: int | None, expect: str) -> None:
    data = body.encode() if isinstance(body, str) else body
    result = merge(data, status, POLICY)
    assert result.status == 200
    assert not result.upstream_dropped
    _assert_well_formed(result.text)
    allowed = {
        "merged": (True, False),
        "own": (True, True),
        "closed": (False, False),
    }[expect]
    assert (_can(result.text, "SomeBot", "/"), _can(result.text, "SomeBot", "/private")) == allowed
    assert not _can(result.text, "GPTBot", "/")
    assert _can(result.text, "GPTBot", "/robots.txt")
    assert result.notes if expect != "merged" else True


def test_unreachable_says_so_in_the_notes() -> None:
    assert "unreachable" in merge(None, None, POLICY).notes[0]
    assert "503" in merge(b"x", 503, POLICY).notes[0]


# --- output order ----------------------------------------------------------------------


def test_header_licence_reserved_group_then_upstream() -> None:
    text = _merge("# upstream says hi\nUser-agent: Foo\nDisallow: /x\n").text
    lines = text.splitlines()
    first_directive = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    header = "\n".join(lines[:first_directive])
    assert "Article 4 of\n# Directive (EU) 2019/790" in header
    for signal in ("search:", "ai-input:", "ai-train:"):
        assert f"#   {signal}" in header
    assert "# Contact: rights@label.example" in header
    assert lines[first_directive] == "License: https://label.example/rsl.xml"
    order = [
        lines.index(x) for x in ("User-agent: GPTBot", "# upstream says hi", "User-agent: Foo")
    ]
    assert order == sorted(order)
    assert lines.index("User-agent: CCBot") == lines.index("User-agent: GPTBot") + 1


def test_licences_are_global_not_in_a_group() -> None:
    text = _merge(UPSTREAM, licences=("https://a.example/l.xml", "https://b.example/l.xml")).text
    keys = [key for key, _ in _directives(text)]
    assert keys[:2] == ["license", "license"]
    assert "license" not in keys[2:]


def test_no_signals_when_the_policy_has_none() -> None:
    text = _merge(UPSTREAM, content_usage=None, content_signal=None).text
    assert not [line for line in text.splitlines() if line.startswith(("Content-", "content-"))]
    assert not _can(text, "GPTBot")
    assert not _can(text, "SomeBot", "/private")


# --- standards.md §6 pitfalls, asserted with protego ---------------------------------

PITFALLS = [
    pytest.param("User-agent: GPTBot\nAllow: /\n", [("GPTBot", "/", False)], id="same-token"),
    pytest.param("User-agent: gptbot\nAllow: /\n", [("GPTBot", "/", False)], id="case"),
    pytest.param("User-agent: GPTBot/1.2\nAllow: /\n", [("GPTBot", "/", False)], id="version"),
    pytest.param("User-agent: GPTBot*\nAllow: /\n", [("GPTBot", "/", False)], id="wildcard"),
    pytest.param(
        "User-agent: Foo\nUser-agent: GPTBot\nAllow: /\nDisallow: /x\n",
        [("GPTBot", "/", False), ("Foo", "/", True), ("Foo", "/x", False)],
        id="shared-group",
    ),
    pytest.param(
        "User-agent: *\nDisallow: /private\n",
        [("Googlebot", "/private", False), ("Googlebot", "/", True)],
        id="no-named-group-added",
    ),
    pytest.param(
        "User-agent: Foo\nDisallow: /x\nUser-agent: Bar\n",
        [("Bar", "/x", True), ("Foo", "/x", False)],
        id="dangling-at-end",
    ),
    pytest.param(
        "Allow: /\nDisallow: /x\n\nUser-agent: Foo\nDisallow: /y\n",
        [("GPTBot", "/", False), ("SomeBot", "/x", True), ("Foo", "/y", False)],
        id="orphan-rules-do-not-join-our-groups",
    ),
    pytest.param(
        "User-agent: *\nSitemap: https://label.example/s.xml\nUser-agent: GPTBot\n"
        "User-agent: Foo\nDisallow: /\n",
        [("SomeBot", "/", False), ("Foo", "/", False), ("GPTBot", "/", False)],
        id="ai.robots.txt#215",
    ),
]


@pytest.mark.parametrize(("upstream", "expected"), PITFALLS)
def test_pitfalls(upstream: str, expected: list[tuple[str, str, bool]]) -> None:
    text = _merge(upstream).text
    _assert_well_formed(text)
    assert [(agent, path, _can(text, agent, path)) for agent, path, _ in expected] == expected
    assert [(a, p, _can(upstream, a, p)) for a, p, _ in expected if a != "GPTBot"] == [
        e for e in expected if e[0] != "GPTBot"
    ]


def test_issue_215_keeps_one_group() -> None:
    upstream = PITFALLS[-1].values[0]
    text = _merge(str(upstream)).text
    assert "Sitemap: https://label.example/s.xml" in text
    assert _groups(text)[-1][0] == ["*", "Foo"]


def test_reserved_only_group_keeps_comments_and_sitemaps() -> None:
    upstream = "User-agent: CCBot # crawler\n# keep me\nSitemap: /s.xml\nAllow: /\nCrawl-delay: 5\n"
    result = _merge(upstream)
    assert "# keep me" in result.text
    assert "Sitemap: /s.xml" in result.text
    assert "Crawl-delay" not in result.text
    assert "line 1: reserved user agent removed from its group" in result.notes
    reserved = ["GPTBot", "CCBot", "Google-Extended"]
    assert [agents for agents, _ in _groups(result.text)] == [reserved, ["*"]]


def test_reserved_only_group_with_empty_agent_line_is_dropped() -> None:
    text = _merge("User-agent:\nUser-agent: GPTBot\nAllow: /\n").text
    assert "Allow: /\n" not in text.split("User-agent: *")[0]
    assert not _can(text, "GPTBot")


# --- Content-Usage / Content-Signal in every group -----------------------------------


@pytest.mark.parametrize(
    "upstream",
    [
        "User-agent: *\nDisallow: /a\n\nUser-agent: Foo\nUser-agent: Bar\nAllow: /\n",
        "User-agent: Foo\nContent-Usage: train-ai=n\nDisallow: /a\n",
        "User-agent: Foo\ncontent-signal: search=yes, ai-train=no, ai-input=no\nDisallow: /a\n",
        "User-agent: Foo\nContent-Usage: train-ai=y\nContent-Usage: /ok/ train-ai=y\nAllow: /\n",
        "User-agent: Foo\nDisallow: /a\n# trailing comment\n\n",
    ],
)
def test_every_group_carries_our_signals_once(upstream: str) -> None:
    text = _merge(upstream).text
    _assert_well_formed(text)
    for agents, lines in _groups(text):
        assert lines.count("content-usage: train-ai=n") == 1, agents
        assert lines.count("content-signal: search=yes, ai-train=no, ai-input=no") == 1, agents
    # Upstream's own, less restrictive lines stay: aipref combines most-restrictive.
    assert "train-ai=y" not in upstream or "Content-Usage: /ok/ train-ai=y" in text


def test_signals_go_after_the_groups_last_rule_not_before_its_comment() -> None:
    text = _merge("User-agent: Foo\nDisallow: /a\n\n# about Bar\nUser-agent: Bar\nAllow: /\n").text
    assert f"Disallow: /a\n{USAGE}\n{SIGNAL}\n\n# about Bar\nUser-agent: Bar" in text


@pytest.mark.parametrize(
    ("upstream", "stars"),
    [
        ("User-agent: Foo\nDisallow: /\n", 1),
        ("User-agent: *\nDisallow: /x\n", 1),
        ("User-agent: * # everyone\nDisallow: /x\n", 1),
        ("", 1),
    ],
)
def test_star_group_added_only_when_missing(upstream: str, stars: int) -> None:
    text = _merge(upstream).text
    assert sum(agents.count("*") for agents, _ in _groups(text)) == stars
    assert _can(text, "SomeBot", "/") == _can(upstream, "SomeBot", "/")
    assert _can(text, "SomeBot", "/x") == _can(upstream, "SomeBot", "/x")
    assert _can(text, "Foo", "/y") == _can(upstream, "Foo", "/y")


def test_reserving_star_adds_no_permissive_star_group() -> None:
    text = _merge("User-agent: Foo\nAllow: /\n", reserved_tokens=("*",)).text
    assert not _can(text, "SomeBot", "/")
    assert _can(text, "Foo", "/")


def test_aipref_attach_example_keeps_its_meaning() -> None:
    # draft-ietf-aipref-attach-05 §robots.txt example (standards.md §2).
    upstream = (
        "User-Agent: *\nAllow: /\nDisallow: /never/\nContent-Usage: train-ai=n\n"
        "Content-Usage: /ai-ok/ train-ai=y\n\nUser-Agent: ExampleBot\nAllow: /\n"
        "Content-Usage: train-ai=y\n"
    )
    text = _merge(upstream).text
    _assert_well_formed(text)
    assert [agents for agents, _ in _groups(text)][1:] == [["*"], ["ExampleBot"]]
    assert text.count(USAGE) == 3  # ours, upstream's in `*` (not repeated), ExampleBot's
    assert not _can(text, "SomeBot", "/never/test")
    assert _can(text, "SomeBot", "/ai-ok/test")
    assert _can(text, "ExampleBot", "/never/test")


# --- robustness ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "note"),
    [
        (b"User-agent: Foo\r\nDisallow: /x\r\n", None),
        (b"User-agent: Foo\rDisallow: /x\r", None),
        (b"User-agent: Foo\r\nDisallow: /x\nSitemap: /s\r", None),
        (b"User-agent Foo\nDisallow /x\n", None),
        (b"\xef\xbb\xbfUser-agent: Foo\nDisallow: /x\n", "byte order mark"),
        (b"# caf\xe9\nUser-agent: Foo\nDisallow: /x\n", "not UTF-8"),
        (b"<html>\nUser-agent: Foo\nDisallow: /x\n", "not robots.txt directives"),
        (b"User-agent: Foo\n# " + b"x" * MAX_LINE_BYTES + b"\nDisallow: /x\n", "longer than"),
    ],
)
def test_lenient_input(body: bytes, note: str | None) -> None:
    result = merge(body, 200, POLICY)
    _assert_well_formed(result.text)
    assert not _can(result.text, "Foo", "/x")
    assert _can(result.text, "Foo", "/y")
    assert "\ufeff" not in result.text
    assert any(note in n for n in result.notes) if note else result.notes == ()


@pytest.mark.parametrize(
    "body",
    [b"", b"\n\n", b"# only\n# comments\n", b"\xef\xbb\xbf", b"\xff\xfe\x00", b"\r\n", b":::\n"],
)
def test_empty_and_comment_only(body: bytes) -> None:
    result = merge(body, 200, POLICY)
    _assert_well_formed(result.text)
    assert _can(result.text, "SomeBot", "/")
    assert not _can(result.text, "CCBot", "/")
    assert b"# only" not in body or "# only\n# comments" in result.text


def test_odd_reserved_tokens_are_written_as_given() -> None:
    odd = ("Kangaroo Bot", "iaskspider/2.0", "bigsur.ai", "ChatGPT Agent", " ", "GPTBot\nAllow: /")
    text = _merge("User-agent: Foo\nAllow: /\n", reserved_tokens=odd).text
    for token in odd[:4]:
        assert f"User-agent: {token}\n" in text
        assert not _can(text, token, "/")
    assert "User-agent: GPTBot Allow: /\n" in text  # a newline in config cannot inject a rule
    assert "User-agent:  \n" not in text
    assert _can(text, "Foo", "/")


# --- size limit ----------------------------------------------------------------------


def _many_groups(count: int) -> str:
    return "".join(f"# group {i}\nUser-agent: Bot{i}\nDisallow: /p{i}\n\n" for i in range(count))


@pytest.mark.parametrize("limit", [3000, 3500, 4000, 5000])
def test_truncation_drops_upstream_never_ours(limit: int) -> None:
    result = merge(_many_groups(100).encode(), 200, POLICY, limit=limit)
    assert result.upstream_dropped
    assert len(result.text.encode()) <= limit
    assert any("cut" in note for note in result.notes)
    _assert_well_formed(result.text)
    assert not _can(result.text, "GPTBot")
    assert "License: " in result.text


def test_truncation_cuts_before_a_group_whose_agents_would_lose_their_rules() -> None:
    upstream = "User-agent: Keep\nDisallow: /k\n\n" + "".join(
        f"User-agent: A{i}\n" for i in range(50)
    )
    upstream += "Disallow: /a\n"
    full = merge(upstream.encode(), 200, POLICY).text
    result = merge(upstream.encode(), 200, POLICY, limit=len(full.encode()) - 20)
    assert result.upstream_dropped
    assert "User-agent: A0" not in result.text
    assert not _can(result.text, "Keep", "/k")
    _assert_well_formed(result.text)


def test_truncation_inside_a_long_group_keeps_our_signals() -> None:
    upstream = "User-agent: Foo\n" + "".join(f"Disallow: /d{i}\n" for i in range(200))
    full = merge(upstream.encode(), 200, POLICY).text
    result = merge(upstream.encode(), 200, POLICY, limit=len(full.encode()) - 500)
    assert result.upstream_dropped
    assert len(result.text.encode()) <= len(full.encode()) - 500
    assert not _can(result.text, "Foo", "/d0")
    _assert_well_formed(result.text)


def test_truncation_that_drops_the_star_group_adds_ours() -> None:
    upstream = "User-agent: Foo\n" + "Disallow: /f\n" * 300 + "\nUser-agent: *\nDisallow: /x\n"
    full = merge(upstream.encode(), 200, POLICY).text
    result = merge(upstream.encode(), 200, POLICY, limit=len(full.encode()) // 2)
    assert result.upstream_dropped
    _assert_well_formed(result.text)
    assert sum(agents.count("*") for agents, _ in _groups(result.text)) == 1


def test_limit_below_our_block_keeps_our_block_whole() -> None:
    result = merge(_many_groups(3).encode(), 200, POLICY, limit=100)
    assert result.upstream_dropped
    assert "Bot0" not in result.text
    assert not _can(result.text, "GPTBot")
    assert "Article 4" in result.text


def test_within_limit_nothing_is_dropped() -> None:
    upstream = _many_groups(10).encode()
    result = merge(upstream, 200, POLICY, limit=len(merge(upstream, 200, POLICY).text.encode()))
    assert not result.upstream_dropped
    assert "Bot9" in result.text


def test_policy_is_frozen_with_the_documented_defaults() -> None:
    policy = RobotsPolicy(reserved_tokens=("GPTBot",))
    assert (policy.content_usage, policy.content_signal) == (
        "train-ai=n",
        "search=yes, ai-train=no, ai-input=no",
    )
    assert (policy.licences, policy.comment) == ((), ())
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.content_usage = None  # type: ignore[misc]


def test_without_a_star_group_upstream_gets_ours_for_every_other_agent() -> None:
    text = _merge("User-agent: Bingbot\nDisallow: /private/\n").text
    stars = [lines for agents, lines in _groups(text) if agents == ["*"]]
    assert stars == [["allow: /", USAGE.lower(), SIGNAL.lower()]]
    assert not _can(text, "Bingbot", "/private/")
    with_star = _merge("User-agent: *\nDisallow: /tmp/\n").text
    assert [agents for agents, _ in _groups(with_star)].count(["*"]) == 1
    assert not _can(with_star, "SomeBot", "/tmp/")


@pytest.mark.parametrize("written", ["GPTBot/1.0", "gptbot", "GPTBot*", "  GPTBot  "])
def test_upstream_groups_for_a_reserved_agent_are_dropped_however_named(written: str) -> None:
    text = _merge(f"User-agent: {written}\nAllow: /\n").text
    named = [agent for agents, _ in _groups(text) for agent in agents]
    assert named == ["GPTBot", "CCBot", "Google-Extended", "*"]
    assert not _can(text, "GPTBot", "/music/")


@pytest.mark.parametrize("status", [300, 301, 404])
def test_a_redirect_or_missing_file_serves_our_rules_only(status: int) -> None:
    merged = _merge("User-agent: *\nDisallow: /x/\n", status)
    assert merged.notes == (f"upstream status {status}: serving our rules only",)
    assert _can(merged.text, "Bingbot", "/x/")
