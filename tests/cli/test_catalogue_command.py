"""`optout catalogue import ai-robots-txt` and `optout catalogue stats`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from proxy.cli.catalogue import purpose_of
from proxy.cli.main import main
from proxy.config.catalogue import load_catalogue
from proxy.errors import Problem
from proxy.model import Purpose

ACME = """\
# Sources: https://acme.example/bots
# A hand-written comment that must survive an import.
operator: Acme
agents:
  - name: AcmeBot
    purpose: ai-training
    user_agents: [AcmeBot]
    robots_tokens: [AcmeBot]
    url: https://acme.example/bots
    added: 2026-11-25
    sources: [https://acme.example/bots, https://github.com/ai-robots-txt/ai.robots.txt]
    description: Trains Acme's models.  # hand edit

  - name: AcmeSearch
    purpose: ai-search
    user_agents: [AcmeSearch]
    robots_tokens: [AcmeSearch]
    url: https://acme.example/bots
    added: 2026-11-25
    sources: [https://acme.example/bots, https://github.com/ai-robots-txt/ai.robots.txt]
    description: Indexes for Acme answers.
"""
LISTED = {
    "AcmeSearch": {"operator": "[Acme](https://acme.example)", "function": "AI Data Scrapers"},
    "AcmeAgent": {
        "operator": "[Acme](https://acme.example)",
        "function": "AI Agents",
        "description": "Acts for Acme users. More at https://acme.example/agent",
    },
    "NewCo Crawler": {"operator": "Unclear at this time.", "function": "AI Data Scrapers"},
}


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "acme.yaml").write_text(ACME)
    (tmp_path / "robots.json").write_text(json.dumps(LISTED))
    return tmp_path


def _import(rules: Path, *extra: str) -> int:
    return main(
        ["catalogue", "import", "ai-robots-txt", str(rules / "robots.json"), "--rules", str(rules)]
        + list(extra)
    )


def test_import_prints_what_is_new_removed_and_changed(
    rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _import(rules) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in out[:-1]] == [
        ["new", "AcmeAgent"],
        ["new", "NewCo"],
        ["removed", "AcmeBot"],
        ["changed", "AcmeSearch"],
    ]
    assert out[-1].startswith("2 new, 1 removed, 1 changed")
    assert (rules / "agents" / "acme.yaml").read_text() == ACME  # nothing written


def test_write_adds_entries_marked_for_review_and_keeps_comments(
    rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _import(rules, "--write") == 0
    acme = (rules / "agents" / "acme.yaml").read_text()
    assert acme.startswith(ACME.rstrip("\n"))  # comments and hand edits kept, entry appended
    problems: list[Problem] = []
    catalogue = load_catalogue(rules / "agents", problems)
    assert problems == []
    agent = catalogue.by_name("AcmeAgent")
    assert agent is not None
    assert (agent.operator, agent.purpose, agent.user_agents) == (
        "Acme",
        Purpose.AI_ASSISTANT,
        ("AcmeAgent",),
    )
    assert f"added: {dt.date.today().isoformat()}" in acme
    assert 'purpose_note: "review: imported from ai.robots.txt' in acme or (
        "purpose_note: 'review: imported from ai.robots.txt" in acme
    )
    newco = catalogue.by_name("NewCo Crawler")
    assert newco is not None
    # A name with a space is no product token: a robots.txt token only, until reviewed.
    assert (newco.operator, newco.user_agents, newco.control_token) == (
        "Unknown (NewCo Crawler)",
        (),
        True,
    )
    capsys.readouterr()
    assert _import(rules) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("0 new")


def test_stats_counts_per_purpose_and_operator(
    rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["catalogue", "stats", "--rules", str(rules)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("2 agents, 1 operators, 0 marked for review")
    assert "  ai-training       1\n" in out
    assert "  Acme" in out


def test_an_unreadable_list_is_refused(rules: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (rules / "robots.json").write_text("[1, 2]")
    assert _import(rules) == 2
    assert "expected ai.robots.txt's robots.json" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("function", "purpose"),
    [
        ("AI Data Scrapers", Purpose.AI_TRAINING),
        ("Content is used to train open language models.", Purpose.AI_TRAINING),
        ("AI Search Crawlers", Purpose.AI_SEARCH),
        ("AI Data Providers", Purpose.AI_SEARCH),
        ("AI Assistants", Purpose.AI_ASSISTANT),
        ("Undocumented AI Agents", Purpose.AI_ASSISTANT),
        ("Unclear at this time.", Purpose.AI_TRAINING),
    ],
)
def test_the_lists_function_maps_onto_a_purpose(function: str, purpose: Purpose) -> None:
    assert purpose_of(function) is purpose
