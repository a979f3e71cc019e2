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


# Issue 20, "What was found": each user agent and the agent it must (or must not) name,
# against the shipped catalogue.
ISSUE_CASES = [
    # People are not AI trainers: a word of a comment element is not a product.
    (
        "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.2; LCC Internal User - 010; "
        ".NET CLR 1.1.4322)",
        None,
    ),
    # Words inside URLs and e-mail addresses.
    ("crawler4j (+http://code.google.com/p/crawler4j/)", None),
    ("AppEngine-Google; (+http://code.google.com/appengine; appid: s~example)", None),
    ("OpenCrawler/0.1 (+http://code.google.com/p/opencrawler/)", None),
    ("StreamScraper/1.0 (+http://code.google.com/p/streamscraper/)", None),
    ("abot v1.0 http://code.google.com/p/abot", None),
    ("ldspider (http://code.google.com/p/ldspider/wiki/Robots)", None),
    ("Kurzor/1.0 (Linux; cursor@easymail.hu)", None),
    ("ExampleApp/3.1 (Android 14; Version Code: 25454)", None),
    # "like Googlebot" is not Googlebot: the product named is.
    ("FreshRSS/1.11.2 (Linux; https://freshrss.org) like Googlebot", "FreshRSS"),
    ("FreshRSS/1.24.1 (Linux; https://freshrss.org) (compatible with Googlebot)", "FreshRSS"),
    ("SomeReader/2.0 treat like Googlebot", None),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "Googlebot"),
    # Homonyms: Exalead's Exabot is a search engine, not Exa.
    ("Mozilla/5.0 (compatible; Exabot/3.0; +http://www.exabot.com/go/robot)", "Exalead-Exabot"),
    # Variants.
    (
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; PerplexityUser/1.0; "
        "+https://perplexity.ai)",
        "Perplexity-User",
    ),
    ("crawl4ai-adapter/1.0", "Crawl4AI"),
    ("KendraBot", "amazon-kendra"),
    ("Pinterest/0.2 (+https://www.pinterest.com/bot.html)", "Pinterestbot"),
    ("opencode-smartfetch/1.0", "opencode"),
    (
        "Mozilla/5.0 (compatible; Amazon-Bedrock-AgentCore-Browser; +https://aws.amazon.com/bedrock/)",
        "Amazon-Bedrock-AgentCore-Browser",
    ),
    ("Mozilla/5.0 (compatible; Anchor Browser; +https://anchorbrowser.io/)", "Anchor Browser"),
    # Agents that were missing.
    (
        "Mozilla/5.0 (compatible; ExteContextCrawl/1.0; +http://crawl001.exte.ai)",
        "ExteContextCrawl",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/91.0.4472.124 Safari/537.36 Flyriverbot/1.1 (+https://www.flyriver.com/; "
        "AI Content Source Check)",
        "Flyriverbot",
    ),
    (
        "Mozilla/5.0 (Linux; CentOS; compatible; semantic-visions-discovery; HTTPClient 4.5)",
        "semantic-visions",
    ),
    (
        "Mozilla/5.0 (X11; compatible; semantic-visions.com crawler; HTTPClient 4.5)",
        "semantic-visions",
    ),
    ("TaraGroup Intelligent Bot V1", "TaraGroup Intelligent Bot"),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7; TSM-turingos-1253296984) "
        "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36",
        "TSM-turingos",
    ),
    ("ImageMind", "ImageMind"),
    ("Novellum", "Novellum"),
    ("ProRataInc/1.0", "ProRataInc"),
    ("linkReader/1.0 (+https://gochitchat.ai)", "linkReader"),
    ("Spawning-AI", "Spawning-AI"),
    ("The Knowledge AI", "The Knowledge AI"),
    # xAI's research sourcing crawler: xAI publishes no UA string, so these are the
    # shapes Anubis's rule `code-review-sourcing.*\+xai-research` matches.
    ("code-review-sourcing/1.0 (+xai-research)", "code-review-sourcing"),
    ("Mozilla/5.0 (compatible; code-review-sourcing/1.0; +xai-research)", "code-review-sourcing"),
]


@pytest.fixture(scope="module")
def shipped_catalogue() -> Catalogue:
    from proxy.ruleset import load_rules
    from tests.paths import RULES

    return load_rules(RULES).catalogue


@pytest.mark.parametrize(("user_agent", "expected"), ISSUE_CASES, ids=lambda v: str(v)[:50])
def test_issue_cases(shipped_catalogue: Catalogue, user_agent: str, expected: str | None) -> None:
    found = shipped_catalogue.match(user_agent)
    assert (found.name if found else None) == expected


def test_xai_research_crawler_is_reserved_as_training(shipped_catalogue: Catalogue) -> None:
    found = shipped_catalogue.match("code-review-sourcing/1.0 (+xai-research)")
    assert found is not None
    assert (found.operator, found.purpose) == ("xAI", Purpose.AI_TRAINING)
    # A URL path or a prose mention of the words names no agent.
    assert shipped_catalogue.match("Foo/1.0 (+https://example.com/code-review-sourcing)") is None


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        # A domain token names an agent as the host of the information URL, exactly.
        ("Mozilla/5.0 (compatible; Spider/2.0; +https://spider.cloud)", "Spider"),
        ("Mozilla/5.0 (compatible; Spider/2.0; +https://spider.cloud.example)", None),
        ("Mozilla/5.0 (compatible; Foo/1.0; +https://notspider.cloud/)", None),
        # A comment element "Name 2.0" carries a version, like "Name/2.0".
        ("Mozilla/4.0 (compatible; Cursor 2.0; Windows)", "Cursor"),
        # Several products: the first-ranking purpose, then the first named.
        ("Kangaroo/1.0 Kangaroo Bot/1.0", "Kangaroo Bot"),
    ],
)
def test_product_forms(user_agent: str, expected: str | None) -> None:
    catalogue = Catalogue(
        (*CATALOGUE.agents, _agent("Spider", Purpose.AI_TRAINING, "spider.cloud"))
    )
    found = catalogue.match(user_agent)
    assert (found.name if found else None) == expected


def test_every_shipped_entry_records_when_it_was_checked_and_its_sources() -> None:
    import datetime as dt

    from ruamel.yaml import YAML

    from tests.paths import RULES

    missing = []
    for path in sorted((RULES / "agents").glob("*.yaml")):
        for entry in YAML(typ="safe").load(path.read_text())["agents"]:
            added, sources = entry.get("added"), entry.get("sources")
            if not isinstance(added, dt.date) or not sources:
                missing.append(f"{path.name}: {entry['name']}")
            elif not all(s.startswith(("https://", "http://")) for s in sources):
                missing.append(f"{path.name}: {entry['name']}: {sources}")
    assert missing == []


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("    added: yesterday\n", "added: 'yesterday' must be a date like 2026-12-03"),
        ("    sources: [ftp://x]\n", "sources: must be a non-empty list of http(s) URLs"),
        ("    sources: []\n", "sources: must be a non-empty list of http(s) URLs"),
        ('    purpose_note: ""\n', "purpose_note: must be a non-empty string"),
    ],
)
def test_provenance_fields_are_checked(tmp_path: Path, line: str, message: str) -> None:
    (tmp_path / "acme.yaml").write_text(
        "operator: Acme\nagents:\n  - name: AcmeBot\n    purpose: ai-training\n"
        "    user_agents: [AcmeBot]\n    robots_tokens: [AcmeBot]\n"
        "    url: https://acme.example\n    description: A bot.\n" + line
    )
    problems: list[Problem] = []
    load_catalogue(tmp_path, problems)
    assert [f"{p.field}: {p.message}" for p in problems] == [message]
