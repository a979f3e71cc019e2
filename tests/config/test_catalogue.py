"""The agent catalogue: strict loading, and whole-word product-token matching."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from proxy.config.catalogue import Catalogue, load_catalogue
from proxy.errors import Problem
from proxy.model import Agent, Purpose

BAD = Path(__file__).parent / "testdata" / "agents-bad"


def _agent(name: str, purpose: Purpose, *tokens: str) -> Agent:
    return Agent(name, "Op", purpose, tokens or (name,), (name,), "https://x")


CATALOGUE = Catalogue(
    (
        _agent("LCC", Purpose.AI_TRAINING),
        _agent("Cursor", Purpose.AI_ASSISTANT),
        _agent("GPTBot", Purpose.AI_TRAINING),
        _agent("Googlebot", Purpose.SEARCH),
        _agent("Googlebot-Image", Purpose.SEARCH),
        _agent("Kangaroo", Purpose.OTHER),
        _agent("Kangaroo Bot", Purpose.AI_TRAINING),
        _agent("bigsur.ai", Purpose.AI_TRAINING),
        _agent("Bytespider", Purpose.AI_TRAINING),
    )
)


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        ("GPTBot/1.0", "GPTBot"),
        ("gptbot/9.9", "GPTBot"),
        ("Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)", "GPTBot"),
        ("Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; SLCC1; .NET CLR 2.0)", None),
        ("Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; SLCC2)", None),
        ("LCC (+http://corpora.informatik.uni-leipzig.de/crawler_faq.html)", "LCC"),
        ("NotCursor/1.0", None),
        ("CursorNot/1.0", None),
        ("Cursor/1.0", "Cursor"),
        ("Googlebot-Image/1.0", "Googlebot-Image"),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "Googlebot"),
        ("Kangaroo Bot/1.0", "Kangaroo Bot"),
        ("Kangaroo/1.0", "Kangaroo"),
        ("Mozilla/5.0 (compatible; bigsur.ai)", "bigsur.ai"),
        ("bigsur.aix", None),
        ("...; Bytespider;bytespider@bytedance.com", "Bytespider"),
        # Several agents named: the one whose purpose ranks first wins.
        ("Googlebot/2.1 GPTBot/1.0", "GPTBot"),
        ("Googlebot/2.1 Googlebot-Image/1.0", "Googlebot"),
        ("", None),
        ("\x00\xff\udcff" * 1000, None),
    ],
)
def test_match(user_agent: str, expected: str | None) -> None:
    found = CATALOGUE.match(user_agent)
    assert (found.name if found else None) == expected
    assert CATALOGUE.match(user_agent) is found  # cached answer is the same


def test_cache_stays_bounded() -> None:
    catalogue = Catalogue(CATALOGUE.agents)
    for i in range(10_000):
        catalogue.match(f"client-{i}")
    assert len(catalogue._cache) <= 4096


@pytest.mark.parametrize("path", sorted(BAD.glob("*.yaml")), ids=lambda p: p.stem)
def test_bad_agent_file_is_reported_with_location(path: Path, tmp_path: Path) -> None:
    (tmp_path / path.name).write_bytes(path.read_bytes())
    problems: list[Problem] = []
    load_catalogue(tmp_path, problems)
    messages = "\n".join(str(p) for p in problems)
    expect = path.read_text().splitlines()[0].removeprefix("# expect: ")
    pattern = re.escape(str(tmp_path / path.name)) + expect
    assert re.search(pattern, messages), f"expected {pattern!r} in:\n{messages}"


def test_empty_directory_is_a_problem(tmp_path: Path) -> None:
    problems: list[Problem] = []
    load_catalogue(tmp_path, problems)
    assert [p.message for p in problems] == ["no agent files (*.yaml) found"]


def test_every_field_of_an_agent_is_loaded(tmp_path: Path) -> None:
    (tmp_path / "acme.yaml").write_text(
        "operator: Acme\n"
        "agents:\n"
        "  - name: AcmeBot\n"
        "    purpose: ai-training\n"
        "    user_agents: [AcmeBot, Acme-Crawler]\n"
        "    robots_tokens: [AcmeBot]\n"
        "    url: http://acme.example/bot\n"
        "    description: Trains Acme's models.\n"
        "    verify:\n"
        "      ip_ranges: [acme]\n"
        "      rdns_domains: [crawl.acme.example]\n"
        "      web_bot_auth: [https://acme.example]\n"
        "  - name: Acme-Extended\n"
        "    purpose: ai-training\n"
        "    user_agents: []\n"
        "    robots_tokens: [Acme-Extended]\n"
        "    url: https://acme.example/extended\n"
        "    description: A robots.txt token only.\n"
        "    control_token: true\n"
    )
    problems: list[Problem] = []
    catalogue = load_catalogue(tmp_path, problems)
    assert problems == []
    assert catalogue.agents == (
        Agent(
            "AcmeBot",
            "Acme",
            Purpose.AI_TRAINING,
            ("AcmeBot", "Acme-Crawler"),
            ("AcmeBot",),
            "http://acme.example/bot",
            "Trains Acme's models.",
            ip_ranges=("acme",),
            rdns_domains=("crawl.acme.example",),
            signature_agents=("https://acme.example",),
        ),
        Agent(
            "Acme-Extended",
            "Acme",
            Purpose.AI_TRAINING,
            (),
            ("Acme-Extended",),
            "https://acme.example/extended",
            "A robots.txt token only.",
            control_token=True,
        ),
    )
