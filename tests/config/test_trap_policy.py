"""The policy's `trap:` section: opt-in, validated with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.config.policy import load_policy
from proxy.config.trap import DEFAULT_TTL, Trap, parse_ttl
from proxy.ruleset import Ruleset

BASE = "version: 1\nrules: []\ndefault: allow\n"


def load(tmp_path: Path, shipped: Ruleset, extra: str) -> tuple[object, list[str]]:
    path = tmp_path / "policy.yaml"
    path.write_text(BASE + extra, encoding="utf-8")
    problems: list = []
    policy = load_policy(path, shipped.catalogue, problems)
    return policy.trap, [f"{p.line}: {p.message}" for p in problems]


def test_no_section_no_trap(tmp_path: Path, shipped: Ruleset) -> None:
    assert load(tmp_path, shipped, "") == (None, [])


def test_trap_with_ttl(tmp_path: Path, shipped: Ruleset) -> None:
    extra = "trap:\n  path: /catalogue/all-x1\n  ttl: 7d\n"
    assert load(tmp_path, shipped, extra) == (Trap("/catalogue/all-x1", 7 * 86400), [])


def test_ttl_defaults_to_a_day(tmp_path: Path, shipped: Ruleset) -> None:
    trap, _ = load(tmp_path, shipped, "trap: {path: /t}\n")
    assert trap == Trap("/t", DEFAULT_TTL)


@pytest.mark.parametrize(
    ("extra", "line", "message"),
    [
        ("trap: /t\n", 4, "must be a mapping"),
        ("trap:\n  path: t\n", 5, "must be a path"),
        ("trap:\n  path: /a*b\n", 5, "must be a path"),
        ('trap:\n  path: "/a\\"b"\n', 5, "must be a path"),
        ("trap:\n  path: /robots.txt\n", 5, "every client may fetch"),
        ("trap:\n  path: /\n", 5, "must be a path"),
        ("trap:\n  path: /.well-known/t\n", 5, "every client may fetch"),
        ("trap:\n  path: /t\n  ttl: soon\n", 6, "must be a duration"),
        ("trap:\n  path: /t\n  ttl: 0\n", 6, "between 1s and 90d"),
        ("trap:\n  path: /t\n  when: now\n", 6, "unknown key 'when'"),
    ],
    ids=[
        "not-mapping",
        "relative",
        "wildcard",
        "quote",
        "robots",
        "root",
        "well-known",
        "ttl-word",
        "ttl-0",
        "key",
    ],
)
def test_bad_trap_is_located(
    tmp_path: Path, shipped: Ruleset, extra: str, line: int, message: str
) -> None:
    _, problems = load(tmp_path, shipped, extra)
    assert any(p.startswith(f"{line}: ") and message in p for p in problems), problems


@pytest.mark.parametrize(
    ("text", "seconds"), [(3600, 3600), ("90m", 5400), ("24h", 86400), ("2d", 172800)]
)
def test_ttl(text: object, seconds: int) -> None:
    assert parse_ttl(text) == seconds


def test_ttl_refuses_a_boolean() -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_ttl(True)
