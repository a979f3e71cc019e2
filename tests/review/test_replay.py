"""Replaying a log through new rules says exactly what would change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from proxy.config.policy import load_policy
from proxy.review.replay import Change, render, replay
from proxy.ruleset import Ruleset

CLAUDE = "Mozilla/5.0 (compatible; ClaudeBot/1.0; +claudebot@anthropic.com)"
PERPLEXITY = "Mozilla/5.0 (compatible; PerplexityBot/1.0; +https://perplexity.ai/perplexitybot)"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


def _record(
    ua: str, path: str, action: str, rule: str, agent: str | None, identity: str
) -> dict[str, Any]:
    return {
        "@timestamp": "2026-11-25T10:00:00.000Z",
        "event": {"action": action},
        "source": {"ip": "203.0.113.9"},
        "url": {"domain": "label.example", "path": path},
        "http": {"request": {"method": "GET"}, "response": {"status_code": 200}},
        "user_agent": {"original": ua},
        "optout": {"agent": agent, "identity": identity, "rule": rule},
    }


LOG = [
    *[
        _record(CLAUDE, f"/music/{i}", "block", "block-ai-training", "ClaudeBot", "claimed")
        for i in range(5)
    ],
    *[
        _record(PERPLEXITY, f"/music/{i}", "allow", "default", "PerplexityBot", "spoofed")
        for i in range(3)
    ],
    *[_record(BROWSER, "/", "allow", "default", None, "none") for _ in range(7)],
    {"event": {"action": "log-gap"}, "optout": {"gap": {"lost": 3}}},
]


def _with_policy(shipped: Ruleset, tmp_path: Path, text: str) -> Ruleset:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    problems: list[object] = []
    policy = load_policy(path, shipped.catalogue, problems)  # type: ignore[arg-type]
    assert problems == []
    return Ruleset(
        shipped.directory,
        shipped.catalogue,
        shipped.ipranges,
        policy,
        shipped.reserved_headers,
        shipped.open_headers,
    )


def test_replay_counts_what_changes(shipped: Ruleset, tmp_path: Path) -> None:
    new = _with_policy(
        shipped,
        tmp_path,
        (
            "default: allow\nrules:\n"
            "  - {name: block-spoofed, identity: spoofed, action: block}\n"
            "  - {name: music-open, path: /music/, action: allow}\n"
        ),
    )
    result = replay(LOG, new)
    assert (result.records, result.skipped, result.unchanged) == (15, 1, 7)
    assert result.changes == {
        Change("block", "block-ai-training", "allow", "music-open"): 5,
        Change("allow", "default", "block", "block-spoofed"): 3,
    }
    assert result.by_rule == {
        ("music-open", "allow"): 5,
        ("block-spoofed", "block"): 3,
        ("default", "allow"): 7,
    }
    assert len(result.examples[Change("block", "block-ai-training", "allow", "music-open")]) == 3
    text = render(result)
    assert "5  block (block-ai-training) -> allow (music-open)" in text
    assert "e.g. ClaudeBot /music/0" in text


def test_replay_with_the_same_rules_changes_nothing(shipped: Ruleset) -> None:
    result = replay(LOG[:5] + LOG[8:15], shipped)
    assert result.changes == {}
    assert result.unchanged == 12
