"""The merge with the shipped catalogue's tokens, read by three independent parsers.

Crawlers do not all read robots.txt the way RFC 9309 says: Python's
`urllib.robotparser` applies a group to every crawler whose name contains one of the
group's tokens, protego does the same when given a full user agent, and Google's
parser (the `fast-robotstxt` binding of google/robotstxt) reads only the leading
product token of a `User-agent` line. For every corpus file, each parser must give
every agent outside the reserved set the same answers before and after the merge,
for the agents the file names, for the big crawlers as product tokens and as full
user agents, on each path the file's rules mention.
"""

from __future__ import annotations

import re
import urllib.robotparser
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest
import robotstxt
from paths import RULES, SHARED
from protego import Protego

from proxy.ruleset import load_rules
from proxy.signals.robotspolicy import robots_policy
from proxy.signals.robotstxt import RobotsPolicy, merge

CORPUS = SHARED / "corpus" / "robots"
FILES = sorted(path for path in CORPUS.iterdir() if path.is_file())
HOST = "https://site.example"
NO_LIMIT = 1 << 30
MAX_PATHS = 40  # per file: "/" and the first paths its rules mention, enough to see a change
CRAWLERS = (
    "Googlebot",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "bingbot",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Baiduspider",
    "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
    "Sogou web spider/4.0(+http://www.sogou.com/docs/help/webmasters.htm#07)",
    "YandexBot",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)",
    "Mozilla/5.0 (compatible; Applebot/0.1; +http://www.apple.com/go/applebot)",
    "Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)",
    "Mozilla/5.0 (compatible; SeznamBot/4.0; +https://o-seznam.cz/napoveda/vyhledavani/en/seznambot-crawler/)",
    "Mozilla/5.0 (compatible; Exabot/3.0; +http://www.exabot.com/go/robot)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
    "Mozilla/5.0 (compatible; MJ12bot/v1.4.8; http://mj12bot.com/)",
    "ia_archiver",
)
_TOKEN = re.compile(r"[A-Za-z_-]+")
# Files the parsers read differently before any merge, so no merge can keep all three
# answers; the merge keeps RFC 9309's. Each entry names the parser and says why.
DISAGREE: dict[str, tuple[str, str]] = {
    "www.census.gov.txt": (
        "urllib",
        "`User-agent: usasearch` ends the file without rules: urllib.robotparser drops the"
        " group (usasearch falls back to `*`), RFC 9309 and protego read a group that allows"
        " everything, which the merge keeps by closing it with an empty Disallow",
    ),
}

Check = Callable[[str, str], bool]  # (agent, url) -> may fetch


@cache
def _policy() -> RobotsPolicy:
    shipped = load_rules(RULES)
    found = robots_policy(shipped.policy, shipped.catalogue, "label.example")
    return RobotsPolicy(found.reserved_tokens, licences=found.licences)


def _reserved(agent: str) -> bool:
    """An agent the reservation is for: its product token is one of ours."""
    first = _TOKEN.match(agent.replace("*", "").strip())
    reserved = {t.lower() for t in _policy().reserved_tokens}
    return agent.lower() in reserved or (first is not None and first.group().lower() in reserved)


def _parsers(text: str) -> dict[str, Check]:
    rp = Protego.parse(text)
    up = urllib.robotparser.RobotFileParser()
    up.parse(text.splitlines())
    google = robotstxt.RobotsMatcher()
    return {
        "protego": lambda agent, url: rp.can_fetch(url, agent),
        "urllib": lambda agent, url: up.can_fetch(agent, url),
        "google": lambda agent, url: google.is_allowed(text, agent, url),
    }


def _lines(raw: bytes) -> list[str]:
    text = raw.removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="replace")
    return re.split(r"\r\n|\r|\n", text)


def _values(lines: list[str], names: set[str]) -> list[str]:
    values = []
    for line in lines:
        key, colon, value = line.split("#", 1)[0].partition(":")
        if colon and key.strip().lower() in names and value.strip():
            values.append(value.strip())
    return values


def test_the_reserved_tokens_are_product_tokens() -> None:
    tokens = _policy().reserved_tokens
    assert len(tokens) > 50
    assert [t for t in tokens if re.fullmatch(r"[A-Za-z0-9_-]+", t) is None] == []
    assert "Spider" not in tokens  # inside Baiduspider and Sogou web spider


@pytest.mark.parametrize("path", FILES, ids=[path.name for path in FILES])
def test_three_parsers_keep_every_other_agents_permissions(path: Path) -> None:
    raw = path.read_bytes()
    lines = _lines(raw)
    original = "\n".join(lines)
    merged = merge(raw, 200, _policy(), limit=NO_LIMIT).text
    named = {a for a in _values(lines, {"user-agent", "useragent", "user agent"}) if a != "*"}
    agents = sorted(a for a in named | set(CRAWLERS) if not _reserved(a))
    patterns = _values(lines, {"allow", "disallow"})
    paths = sorted({"/" + p.replace("$", "").replace("*", "x").lstrip("/") for p in patterns})
    urls = [HOST + p for p in ["/", *paths[:MAX_PATHS]]]
    before, after = _parsers(original), _parsers(merged)
    skipped = DISAGREE.get(path.name, ("", ""))[0]
    changed = [
        (name, agent, url)
        for name in before
        if name != skipped
        for agent in agents
        for url in urls
        if before[name](agent, url) != after[name](agent, url)
    ]
    assert changed == []
