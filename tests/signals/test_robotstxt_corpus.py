"""The merge on 509 real robots.txt files: nobody else's permissions change.

For every file, protego answers `can_fetch` before and after the merge for each agent
the file names (plus agents that only `*` covers) on each path its rules mention. A
non-reserved agent must get the same answer; a reserved one must be refused everywhere
but /robots.txt. Sitemap and comment lines must survive.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
from paths import SHARED
from protego import Protego

from proxy.signals.robotstxt import MAX_LINE_BYTES, RobotsPolicy, merge

CORPUS = SHARED / "corpus" / "robots"
FILES = sorted(path for path in CORPUS.iterdir() if path.is_file())
RESERVED = ("GPTBot", "CCBot", "ClaudeBot", "Google-Extended", "Bytespider", "meta-externalagent")
POLICY = RobotsPolicy(reserved_tokens=RESERVED, licences=("https://label.example/rsl.xml",))
UNNAMED = ("SomeRandomBot", "Googlebot", "bingbot")
HOST = "https://site.example"
NO_LIMIT = 1 << 30

# Files where protego reads the original differently from RFC 9309, so a merge that
# keeps RFC 9309 semantics changes protego's answer. Each entry says why.
PROTEGO_DISAGREES: dict[str, str] = {}


def _lines(raw: bytes) -> list[str]:
    text = raw.removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="replace")
    return [line for line in re.split(r"\r\n|\r|\n", text) if len(line.encode()) <= MAX_LINE_BYTES]


def _fields(lines: list[str], names: set[str]) -> list[str]:
    values = []
    for line in lines:
        key, colon, value = line.split("#", 1)[0].partition(":")
        if colon and key.strip().lower() in names and value.strip():
            values.append(value.strip())
    return values


def _reserved(agent: str) -> bool:
    token = re.match(r"[A-Za-z_-]*", agent.replace("*", ""))
    names = {agent.lower(), agent.replace("*", "").lower(), token[0].lower() if token else ""}
    return bool(names & {name.lower() for name in RESERVED})


@cache
def _case(path: Path) -> tuple[list[str], str, Protego, Protego, list[str], list[str]]:
    raw = path.read_bytes()
    lines = _lines(raw)
    merged = merge(raw, 200, POLICY, limit=NO_LIMIT)
    agents = _fields(lines, {"user-agent", "useragent", "user agent"})
    named = sorted({a for a in agents if a != "*" and not _reserved(a)} | set(UNNAMED))
    patterns = _fields(lines, {"allow", "disallow"})
    paths = sorted(
        {"/"} | {"/" + p.replace("$", "").replace("*", "x").lstrip("/") for p in patterns}
    )
    before = Protego.parse("\n".join(lines))
    return lines, merged.text, before, Protego.parse(merged.text), named, paths


def test_corpus_is_complete() -> None:
    assert len(FILES) == 509


@pytest.mark.parametrize("path", FILES, ids=[path.name for path in FILES])
def test_other_agents_keep_their_permissions(path: Path) -> None:
    if path.name in PROTEGO_DISAGREES:
        pytest.skip(PROTEGO_DISAGREES[path.name])
    _, _, before, after, agents, paths = _case(path)
    changed = [
        (agent, url)
        for agent in agents
        for url in paths
        if before.can_fetch(HOST + url, agent) != after.can_fetch(HOST + url, agent)
    ]
    assert changed == []


@pytest.mark.parametrize("path", FILES, ids=[path.name for path in FILES])
def test_reserved_agents_are_refused_everywhere(path: Path) -> None:
    _, _, _, after, _, paths = _case(path)
    allowed = [
        (agent, url)
        for agent in RESERVED
        for url in paths
        if url != "/robots.txt" and after.can_fetch(HOST + url, agent)
    ]
    assert allowed == []
    assert after.can_fetch(HOST + "/robots.txt", "GPTBot")


@pytest.mark.parametrize("path", FILES, ids=[path.name for path in FILES])
def test_sitemaps_and_comments_survive(path: Path) -> None:
    lines, text, *_ = _case(path)
    output = set(text.splitlines())
    sitemaps = [line for line in lines if re.match(r"\s*site-?maps?\b", line, re.IGNORECASE)]
    comments = [line for line in lines if line.strip().startswith("#")]
    assert [line for line in sitemaps + comments if line not in output] == []


@pytest.mark.parametrize("path", FILES, ids=[path.name for path in FILES])
def test_default_limit_is_kept(path: Path) -> None:
    raw = path.read_bytes()
    merged = merge(raw, 200, POLICY)
    assert len(merged.text.encode()) <= 500 * 1024
    if not merged.upstream_dropped:
        assert merged.text == _case(path)[1]
    rp = Protego.parse(merged.text)
    assert not any(rp.can_fetch(HOST + "/", agent) for agent in RESERVED)
