from __future__ import annotations

import json
from pathlib import Path

import pytest
from loggen import ROBOTS_V1, ROBOTS_V2, LogBuilder, at
from paths import RULES

from proxy.review.files import resolve
from proxy.review.violations import ROBOTS, TDM, Options, find
from proxy.ruleset import Ruleset
from tests.review.conftest import run_cli


def _find(b: LogBuilder, shipped: Ruleset | None = None, **kw: object) -> object:
    def tokens(name: str) -> tuple[str, ...]:
        agent = shipped.catalogue.by_name(name) if shipped else None
        return agent.robots_tokens if agent else (name,)

    return find(resolve([str(b.log)]), b.state, tokens, Options(**kw))  # type: ignore[arg-type]


def test_robots_served_at_the_time_decides_not_the_current_one(built: LogBuilder) -> None:
    found = _find(built)
    robots = [(v.path, v.evidence) for v in found.violations if v.kind == ROBOTS]
    v1, v2 = (built.store.put(t.encode(), "robots.txt") for t in (ROBOTS_V1, ROBOTS_V2))
    # /a/1 broke v1; /b/1 was allowed by v1 even though v2 disallows it later;
    # /a/2 was allowed by v2 although v1 had disallowed it; /b/2 broke v2.
    assert robots == [
        ("/a/1", {"sha256": v1, "served_at": at(1)}),
        ("/b/2", {"sha256": v2, "served_at": at(60)}),
    ]
    assert found.never_fetched_robots == ["ClaudeBot", "Googlebot"]


def test_tdm_reservation_violations_are_served_content_after_the_first_reservation(
    built: LogBuilder,
) -> None:
    found = _find(built)
    assert {v.kind for v in found.violations} == {ROBOTS}
    tdm = [(v.agent, v.path, v.evidence) for v in found.allowed if v.kind == TDM]
    # GPTBot: the robots.txt answer showed the reservation; /a/1 was blocked (no content).
    # ClaudeBot: its first request showed it, its second took content anyway.
    assert tdm == [
        ("GPTBot", "/b/1", {"first_shown": at(1)}),
        ("GPTBot", "/a/2", {"first_shown": at(1)}),
        ("GPTBot", "/b/2", {"first_shown": at(1)}),
        ("ClaudeBot", "/a/4", {"first_shown": at(64)}),
    ]
    assert {v.rule for v in found.allowed} == {"default/allow"}
    everyone = _find(built, purposes=None).allowed
    assert ("Googlebot", "/releases/aurora") in {(v.agent, v.path) for v in everyone}


def test_window_and_agent_keep_earlier_evidence(built: LogBuilder) -> None:
    found = _find(built, since=at(30), agent="GPTBot")
    assert [(v.path, v.kind) for v in found.violations] == [("/b/2", ROBOTS)]
    assert [(v.path, v.kind) for v in found.allowed] == [("/a/2", TDM), ("/b/2", TDM)]


def test_robots_of_another_host_and_missing_documents_are_not_used(tmp_path: Path) -> None:
    b = LogBuilder(tmp_path)
    b.robots(0, "GPTBot", "User-agent: *\nDisallow: /\n", domain="other.example", signals=[])
    b.request(1, "GPTBot", "/x", signals=[])
    b.robots(2, "ClaudeBot", "User-agent: *\nDisallow: /\n", signals=[])
    b.request(3, "ClaudeBot", "/y", signals=[])
    b.write()
    claude = b.store.put(b"User-agent: *\nDisallow: /\n", "robots.txt")
    assert [(v.agent, v.path) for v in _find(b).violations] == [("ClaudeBot", "/y")]
    (b.state / "served" / claude).unlink()
    found = _find(b)
    assert found.violations == []
    assert any("cannot be checked" in n for n in found.notes)


@pytest.mark.parametrize(
    ("robots", "violation"),
    [
        ("User-agent: OpenAI\nDisallow: /x\n", True),  # GPTBot's other token
        ("User-agent: *\nDisallow: /x\n\nUser-agent: GPTBot\nAllow: /\n", False),
        ("User-agent: *\nDisallow: /x\n", True),
        ("User-agent: ClaudeBot\nDisallow: /x\n", False),
    ],
)
def test_robots_groups_follow_the_catalogue_tokens(
    tmp_path: Path, shipped: Ruleset, robots: str, violation: bool
) -> None:
    b = LogBuilder(tmp_path)
    b.robots(0, "GPTBot", robots, signals=[])
    b.request(1, "GPTBot", "/x/song.mp3", signals=[])
    b.write()
    assert bool(_find(b, shipped).violations) is violation


def test_signal_files_are_never_violations(tmp_path: Path) -> None:
    b = LogBuilder(tmp_path)
    b.robots(0, "GPTBot", "User-agent: *\nDisallow: /\n")
    for path in ("/ai.txt", "/.well-known/tdmrep.json", "/robots.txt"):
        b.request(1, "GPTBot", path)
    b.write()
    found = _find(b)
    assert found.violations == []
    assert found.allowed == []


def test_always_free_paths_are_in_neither_list(tmp_path: Path) -> None:
    # A robots.txt that disallows everything, then the sitemap and the licence document,
    # which the proxy serves to everyone (rule always-free), and one real page.
    b = LogBuilder(tmp_path)
    b.robots(0, "GPTBot", "User-agent: *\nDisallow: /\n")
    for minute, path in enumerate(("/sitemap.xml", "/sitemap-releases.xml.gz", "/license.xml")):
        b.request(1 + minute, "GPTBot", path, rule="always-free")
    b.request(5, "GPTBot", "/releases/aurora", action="block")
    b.write()
    found = _find(b)
    assert [(v.path, v.rule, v.status) for v in found.violations] == [
        ("/releases/aurora", "block-ai-training", 403)
    ]
    assert found.allowed == []


def test_cli_table_and_json(built: LogBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    common = [str(built.log), "--state", str(built.state), "--rules", str(RULES)]
    assert run_cli(["logs", "violations", *common]) == 0
    out = capsys.readouterr().out
    assert "2 violation(s)" in out
    assert "4 request(s) the policy allowed" in out
    robots, allowed = out.split("Served after the TDM reservation was shown")
    assert ("/a/1" in robots, "/b/2" in robots, "/a/4" in robots) == (True, True, False)
    assert ("/a/4" in allowed, "default/allow" in allowed) == (True, True)
    assert "no robots.txt violation is claimed for: ClaudeBot" in out
    assert run_cli(["logs", "violations", *common, "--json", "--agent", "ClaudeBot"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["violations"] == []
    assert [v["path"] for v in doc["allowed_after_reservation"]] == ["/a/4"]
