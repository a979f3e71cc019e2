"""The agent catalogue: rules/agents/*.yaml, one file per operator, and the matcher.

A User-Agent is a list of products (`Name/version`) and comments (`(a; b; c)`).
A catalogue token matches only where it stands as a product: the name of a
`Name/version`, a whole comment element (`compatible; Name;`, `Name 2.0;`), or a
run of words that is an element on its own (`LCC (+http://...)`, the whole
string). So a word inside a URL or an e-mail address (`+http://code.google.com/`,
`cursor@easymail.hu`), after "like" or "compatible with" (`like Googlebot` is the
element "like googlebot"), or inside prose (`LCC Internal User - 010`) names no
agent. Matching is case-insensitive and ignores versions.

One compiled regular expression cuts the user agent into element names in a
single pass; each name is then one dict lookup, so the cost depends on the
length of the user agent, not on the size of the catalogue. Results of recent
user agents are cached.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proxy.config import yamlsource
from proxy.errors import Problem
from proxy.model import PURPOSE_RANK, Agent, Purpose

# An element's name, then what ends it: a `/version`, a ` 2.0`, ` V1` or `-123` version, a
# separator ( ; , parentheses), the end, or a following word that is a URL, an
# e-mail address or a key:value / key=value pair, " - " prose, or the old
# Mozilla/ prefix ("Better Uptime Bot Mozilla/5.0" names "better uptime bot").
# A word of a name: a `-` followed by a digit starts a version instead. Possessive
# quantifiers: a word, once read, is never re-read in pieces (30% faster).
_WORD = r"(?:-(?!\d))?[^\s/;,()-]++(?:-(?!\d)[^\s/;,()-]*+)*+"
_ELEMENT = re.compile(
    rf"({_WORD}(?:\s++{_WORD})*?)"
    r"(?:/[^\s;,()]*+|(?=[;,()]|$)|-\d[^\s;,()]*+"
    r"|\s++(?:/[^\s;,()]*+|v?\d[^\s;,()]*+|(?=[;,()]|$)|(?=(?:[^\s;,()]*[:@=]|-\s|mozilla/))))"
)
# The host of an information URL ("+https://spider.cloud"): it names an agent only
# if it is one of the catalogue's domain tokens, exactly, never by a word inside it.
_HOST = re.compile(r"(?:https?://|\bwww\.)(?:www\.)?([a-z0-9-]+(?:\.[a-z0-9-]+)+)")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TOKEN_START = re.compile(r"[A-Za-z0-9_-]")
_FILE_KEYS = ("operator", "agents")
_AGENT_KEYS = (
    "name",
    "purpose",
    "user_agents",
    "robots_tokens",
    "url",
    "description",
    "verify",
    "control_token",
    "added",
    "sources",
    "purpose_note",
)
_VERIFY_KEYS = ("ip_ranges", "rdns_domains", "web_bot_auth")
_REQUIRED = ("name", "purpose", "user_agents", "robots_tokens", "url", "description")
_CACHE_SIZE = 4096
_MAX_UA = 1024  # longer user agents are matched on their first _MAX_UA characters


def token_key(token: str) -> str | None:
    """The element name a catalogue token matches ("Datadog/Synthetics" -> "datadog").

    None if the token is not one product name (it holds a separator, or starts
    with a character no product name starts with).
    """
    names = _ELEMENT.findall(token.lower())
    if len(names) != 1 or _TOKEN_START.match(token) is None or token != token.strip():
        return None
    return " ".join(names[0].split())


@dataclass(slots=True)
class Catalogue:
    """All known agents, with a matcher compiled once at load time."""

    agents: tuple[Agent, ...]
    # (agent name, snapshot name) -> the file and line naming it in verify.ip_ranges.
    snapshot_lines: dict[tuple[str, str], tuple[str, int | None]] = field(
        default_factory=dict, repr=False
    )
    # Every user-agent token, lower-cased, to the purpose rank and agent it names.
    _tokens: dict[str, tuple[int, Agent]] = field(default_factory=dict, repr=False)
    # Whether any token is a domain name ("spider.cloud"), to be looked for in URLs.
    _domains: bool = field(default=False, repr=False)
    _cache: dict[str, Agent | None] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for agent in self.agents:
            rank = PURPOSE_RANK[agent.purpose]
            for ua in agent.user_agents:
                key = token_key(ua)
                if key is not None:
                    self._tokens[key] = (rank, agent)
                    self._domains |= _HOST.fullmatch("https://" + key) is not None

    def by_signature_agent(self, origin: str) -> Agent | None:
        """The agent that signs with this Web Bot Auth Signature-Agent origin."""
        return next((a for a in self.agents if origin in a.signature_agents), None)

    def by_name(self, name: str) -> Agent | None:
        lowered = name.lower()
        return next((a for a in self.agents if a.name.lower() == lowered), None)

    def where(self, agent: str, snapshot: str) -> tuple[str, int | None] | None:
        """The file and line where `agent` names the IP-range `snapshot`, when loaded from files."""
        return self.snapshot_lines.get((agent, snapshot))

    @property
    def operators(self) -> frozenset[str]:
        return frozenset(a.operator for a in self.agents)

    def match(self, user_agent: str) -> Agent | None:
        """The agent a User-Agent names, or None. Never raises."""
        cached = self._cache.get(user_agent, _MISS)
        if cached is not _MISS:
            return cached  # type: ignore[return-value]
        found = self._match(user_agent[:_MAX_UA])
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        self._cache[user_agent] = found
        return found

    def _match(self, user_agent: str) -> Agent | None:
        tokens = self._tokens
        lowered = user_agent.lower()
        # In order of appearance, so that among agents of the same rank the first named
        # wins; an agent of a higher-ranking purpose wins over one named before it.
        found = [tokens[n] for n in _ELEMENT.findall(lowered) if n in tokens]
        if not found and self._domains and "://" in lowered:
            found = [tokens[h] for h in _HOST.findall(lowered) if h in tokens]
        if not found:
            return None
        return min(found, key=lambda hit: hit[0])[1]


_MISS = object()


def load_catalogue(directory: Path, problems: list[Problem]) -> Catalogue:
    """Load every *.yaml file of `directory`; append each problem found to `problems`."""
    located: list[tuple[Agent, str, int | None]] = []
    snapshots: dict[tuple[str, str], tuple[str, int | None]] = {}
    files = sorted(directory.glob("*.yaml"))
    if not files:
        problems.append(Problem(str(directory), None, "no agent files (*.yaml) found"))
    for path in files:
        report = yamlsource.Report(str(path))
        for agent, line, refs in _load_file(path, report):
            located.append((agent, str(path), line))
            snapshots.update(((agent.name, n), (str(path), at)) for n, at in refs.items())
        problems.extend(report.problems)
    problems.extend(_check_unique(located))
    return Catalogue(tuple(agent for agent, _, _ in located), snapshots)


def _load_file(
    path: Path, report: yamlsource.Report
) -> list[tuple[Agent, int | None, dict[str, int | None]]]:
    data = yamlsource.load(path, report)
    if data is None:
        return []
    if not isinstance(data, dict):
        report.add(yamlsource.line_of(data), "expected a mapping with 'operator' and 'agents'")
        return []
    for key in yamlsource.unknown_keys(data, _FILE_KEYS):
        report.add(
            yamlsource.line_of(data, key), yamlsource.unknown_key(key, _FILE_KEYS), field=key
        )
    operator = data.get("operator")
    if not isinstance(operator, str) or not operator.strip():
        report.add(
            yamlsource.line_of(data, "operator"), "must be a non-empty string", field="operator"
        )
        operator = "?"
    entries = data.get("agents")
    if not isinstance(entries, list) or not entries:
        report.add(yamlsource.line_of(data, "agents"), "must be a non-empty list", field="agents")
        return []
    agents: list[tuple[Agent, int | None, dict[str, int | None]]] = []
    for i, entry in enumerate(entries):
        line = yamlsource.line_of(entries, i)
        agent = _load_agent(entry, operator, line, report)
        if agent is not None:
            agents.append((agent, line, _snapshot_lines(entry)))
    return agents


def _snapshot_lines(entry: dict[str, Any]) -> dict[str, int | None]:
    """The line of each name in `verify: {ip_ranges: …}`, for problems found later."""
    verify = entry.get("verify")
    ranges = verify.get("ip_ranges") if isinstance(verify, dict) else None
    if isinstance(ranges, str):
        return {ranges: yamlsource.line_of(verify, "ip_ranges")}
    if isinstance(ranges, list):
        return {str(name): yamlsource.line_of(ranges, i) for i, name in enumerate(ranges)}
    return {}


def _load_agent(
    entry: Any, operator: str, line: int | None, report: yamlsource.Report
) -> Agent | None:
    if not isinstance(entry, dict):
        report.add(line, "each agent must be a mapping")
        return None
    name = entry.get("name")
    label = f'agent "{name}"' if isinstance(name, str) else f"agent at line {line}"
    before = len(report.problems)

    def bad(key: str, message: str) -> None:
        report.add(yamlsource.line_of(entry, key), message, rule=label, field=key)

    for key in yamlsource.unknown_keys(entry, _AGENT_KEYS):
        bad(key, yamlsource.unknown_key(key, _AGENT_KEYS))
    for key in _REQUIRED:
        if key not in entry:
            report.add(line, "missing", rule=label, field=key)
    texts = {k: entry.get(k) for k in ("name", "url", "description")}
    for key, value in texts.items():
        if key in entry and (not isinstance(value, str) or not value.strip()):
            bad(key, "must be a non-empty string")
    if isinstance(texts["url"], str) and not texts["url"].startswith(("https://", "http://")):
        bad("url", "must be an http(s) URL")
    purpose = entry.get("purpose")
    if "purpose" in entry and purpose not in set(Purpose):
        bad("purpose", f"unknown purpose {purpose!r}; expected one of {_choices(Purpose)}")
    lists = {k: yamlsource.string_list(entry.get(k, [])) for k in ("user_agents", "robots_tokens")}
    for key, value in lists.items():
        if value is None:
            bad(key, "must be a list of strings")
    if lists["user_agents"] == [] and not entry.get("control_token"):
        bad("user_agents", "must name at least one token (or set control_token: true)")
    for ua in lists["user_agents"] or []:
        if token_key(ua) is None:
            bad(
                "user_agents",
                f"{ua!r} must start with a letter, digit, '_' or '-' and be one product"
                " name (no ';', ',' or parenthesis)",
            )
    _check_provenance(entry, bad)
    verify = _load_verify(entry.get("verify", {}), bad)
    control = entry.get("control_token", False)
    if not isinstance(control, bool):
        bad("control_token", "must be true or false")
    if len(report.problems) > before:
        return None
    return Agent(
        name=str(name),
        operator=operator,
        purpose=Purpose(str(purpose)),
        user_agents=tuple(lists["user_agents"] or ()),
        robots_tokens=tuple(lists["robots_tokens"] or ()),
        url=str(texts["url"]),
        description=str(texts["description"]),
        ip_ranges=verify[0],
        rdns_domains=verify[1],
        signature_agents=verify[2],
        control_token=bool(control),
    )


def _check_provenance(entry: dict[str, Any], bad: Any) -> None:
    """`added` (the date the entry was checked), `sources` (URLs), `purpose_note` (why)."""
    added = entry.get("added")
    if "added" in entry and not isinstance(added, dt.date):
        if not isinstance(added, str) or _DATE.fullmatch(added) is None:
            bad("added", f"{added!r} must be a date like 2026-12-03")
    if "sources" in entry:
        sources = yamlsource.string_list(entry["sources"])
        if not sources or any(not u.startswith(("https://", "http://")) for u in sources):
            bad("sources", "must be a non-empty list of http(s) URLs")
    note = entry.get("purpose_note")
    if "purpose_note" in entry and (not isinstance(note, str) or not note.strip()):
        bad("purpose_note", "must be a non-empty string")


def _load_verify(verify: Any, bad: Any) -> tuple[tuple[str, ...], ...]:
    if not isinstance(verify, dict):
        bad("verify", f"must be a mapping with {', '.join(_VERIFY_KEYS)}")
        return (), (), ()
    for key in yamlsource.unknown_keys(verify, _VERIFY_KEYS):
        bad("verify", yamlsource.unknown_key(key, _VERIFY_KEYS))
    result = []
    for key in _VERIFY_KEYS:
        value = yamlsource.string_list(verify.get(key, []))
        if value is None:
            bad("verify", f"{key} must be a list of strings")
        result.append(tuple(value or ()))
    for origin in result[2]:
        if re.fullmatch(r"https://[a-z0-9.-]+(:[0-9]+)?", origin) is None:
            bad(
                "verify",
                f"web_bot_auth {origin!r} must be an https origin like https://chatgpt.com",
            )
    return tuple(result)


def _check_unique(located: Iterable[tuple[Agent, str, int | None]]) -> list[Problem]:
    """Names and tokens used twice; each problem names where the first one is."""
    problems = []
    names: dict[str, tuple[Agent, str, int | None]] = {}
    tokens: dict[str, tuple[Agent, str, int | None]] = {}
    for agent, file, line in located:
        rule = f'agent "{agent.name}"'
        other, at, first = names.setdefault(agent.name.lower(), (agent, file, line))
        if other is not agent:
            message = f"duplicate agent name; first defined at {_place(at, first)}"
            problems.append(Problem(file, line, message, rule, "name"))
        for ua in agent.user_agents:
            owner, at, first = tokens.setdefault(token_key(ua) or ua.lower(), (agent, file, line))
            if owner is not agent:
                message = (
                    f'token {ua!r} is already claimed by agent "{owner.name}" ({_place(at, first)})'
                )
                problems.append(Problem(file, line, message, rule, "user_agents"))
    return problems


def _place(file: str, line: int | None) -> str:
    return f"{file}:{line}" if line is not None else file


def _choices(enum: Iterable[Any]) -> str:
    return ", ".join(str(e) for e in enum)
