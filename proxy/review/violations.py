"""`optout logs violations`: what a crawler fetched against what it was told at the time.

Two lists, each entry with its evidence:

* Violations, what broke robots.txt: a request to a path that the robots.txt
  *served to that agent at that time* (its latest robots.txt response on the same host before the
  request, kept by content hash in `<state>/served/`) disallowed for the
  agent's robots tokens. The current file is never used: rules change, and a
  path allowed when it was fetched is no violation even if it is disallowed now
  (and the reverse). An agent that never fetched robots.txt is not charged with
  ignoring it; the result names such agents. Whether the proxy then blocked the
  request or served it, the crawler broke robots.txt.
* What the policy allowed after the reservation (tdm-reservation): a request
  answered with content (2xx, allowed) after an earlier response to the same
  agent on the same host carried a TDM reservation, listed with the rule that let
  it through. The label's own rules admitted it, so it is not called a violation;
  it is what a reviewer checks the policy against. A reservation is made per
  site, so one host's does not count for another. By default only AI agents
  (purposes ai-*) are listed: the reservation is against text and data mining,
  and search engines are let in on purpose.

Always-free requests (robots.txt, ai.txt, /.well-known/, sitemaps, the licence
documents: every record with the rule `always-free`) are in neither list: the
proxy serves them to everyone so the reservation can be read. Spoofed requests
are reported under the agent they claim, with their identity, so a reviewer can
tell them apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any

from protego import Protego

from proxy.decision.decide import ALWAYS_FREE
from proxy.review import query, traphits
from proxy.review.files import in_window
from proxy.review.text import table
from proxy.store.documents import DocumentStore

ROBOTS = "robots.txt"
TDM = "tdm-reservation"
SIGNAL_PATHS = ("/robots.txt", "/ai.txt", "/security.txt", "/.well-known/")
AI_PURPOSES = ("ai-training", "ai-search", "ai-assistant")

_SELECT = """
SELECT agent, domain, ts, seq, identity, ip, path, query, action, status, purpose, rule,
  coalesce(list_contains(signals, 'tdm-reservation'), false), served_kind, served_sha256
FROM records WHERE agent IS NOT NULL ORDER BY agent, domain, ts, seq
"""


@dataclass(frozen=True, slots=True)
class Violation:
    time: str
    sequence: int | None
    agent: str
    identity: str | None
    ip: str | None
    domain: str | None
    path: str
    action: str | None
    status: int | None
    kind: str  # ROBOTS or TDM
    evidence: dict[str, str]
    rule: str | None = None  # the rule that decided the request (blocked it, or let it in)

    def describe(self) -> str:
        if self.kind == ROBOTS:
            e = self.evidence
            return f"robots.txt {e['sha256'][:12]} served {e['served_at']} disallows it"
        return f"TDM reservation shown {self.evidence['first_shown']}"


@dataclass(slots=True)
class Findings:
    violations: list[Violation] = field(default_factory=list)  # broke robots.txt
    allowed: list[Violation] = field(default_factory=list)  # TDM: the policy let them in
    never_fetched_robots: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    trap_hits: list[traphits.TrapHit] = field(default_factory=list)  # listed first

    def as_json(self) -> dict[str, Any]:
        return {
            "trap_hits": [asdict(h) for h in self.trap_hits],
            "violations": [asdict(v) for v in self.violations],
            "allowed_after_reservation": [asdict(v) for v in self.allowed],
            "never_fetched_robots_txt": self.never_fetched_robots,
            "notes": self.notes,
        }


@dataclass(frozen=True, slots=True)
class Options:
    since: str | None = None
    until: str | None = None
    agent: str | None = None
    purposes: tuple[str, ...] | None = AI_PURPOSES  # for TDM violations; None: every agent


def find(
    files: Sequence[Path], state: Path, tokens: Callable[[str], Sequence[str]], opts: Options
) -> Findings:
    """Every violation in `files`, in time order; earlier history is used as evidence."""
    con = query.connect(files)
    rows = _rows(con.execute(_SELECT))
    checker = _Checker(DocumentStore(state), tokens, opts)
    for (agent, _domain), group in groupby(rows, lambda r: (r[0], r[1])):
        checker.walk(agent, group)
    checker.findings.violations.sort(key=lambda v: (v.time, v.sequence or 0))
    checker.findings.allowed.sort(key=lambda v: (v.time, v.sequence or 0))
    checker.finish()
    checker.findings.trap_hits = traphits.find(files, opts.since, opts.until)
    return checker.findings


def _rows(cursor: Any) -> Iterator[tuple[Any, ...]]:
    while batch := cursor.fetchmany(50_000):
        yield from batch


class _Checker:
    """Walks one agent's records on one host in time order, remembering what it was shown."""

    def __init__(
        self, store: DocumentStore, tokens: Callable[[str], Sequence[str]], opts: Options
    ) -> None:
        self.store, self.tokens, self.opts = store, tokens, opts
        self.findings = Findings()
        self.parsed: dict[str, Protego | None] = {}
        self.seen: dict[str, bool] = {}  # agent -> fetched robots.txt (in or before window)

    def walk(self, agent: str, rows: Iterable[tuple[Any, ...]]) -> None:
        robots: tuple[str, str] | None = None  # (sha256, served at)
        shown: str | None = None  # first TDM reservation shown
        check_tdm = self.opts.purposes is None
        for _, domain, ts, seq, identity, ip, path, qs, action, status, purpose, *rest in rows:
            rule, reserved, kind, sha = rest
            check_tdm = check_tdm or purpose in (self.opts.purposes or ())
            free = rule == ALWAYS_FREE.rule or path.startswith(SIGNAL_PATHS)
            if self._wanted(agent, ts) and not free:
                path_qs = path + (f"?{qs}" if qs else "")
                base = (ts, seq, agent, identity, ip, domain, path_qs, rule)
                if robots is not None and self._disallowed(robots[0], agent, domain, base[6]):
                    evidence = {"sha256": robots[0], "served_at": robots[1]}
                    self._add(base, action, status, ROBOTS, evidence)
                ok = action == "allow" and status is not None and 200 <= status < 300
                if shown is not None and check_tdm and ok:
                    self._add(base, action, status, TDM, {"first_shown": shown})
            if path == "/robots.txt":
                self.seen[agent] = True
                robots = (sha, ts) if kind == ROBOTS and sha else None
                if robots is None:
                    self.findings.notes.append(
                        f"{agent} fetched robots.txt at {ts} but the "
                        "record has no served hash: not checked after it"
                    )
            if reserved and shown is None:
                shown = ts
        self.seen.setdefault(agent, False)

    def _wanted(self, agent: str, ts: str) -> bool:
        wanted = self.opts.agent is None or self.opts.agent == agent
        return wanted and in_window(ts, self.opts.since, self.opts.until)

    def _add(
        self, base: tuple[Any, ...], action: str, status: int, kind: str, ev: dict[str, str]
    ) -> None:
        ts, seq, agent, identity, ip, domain, path, rule = base
        found = Violation(
            ts, seq, agent, identity, ip, domain, path, action, status, kind, ev, rule
        )
        (self.findings.violations if kind == ROBOTS else self.findings.allowed).append(found)

    def _disallowed(self, sha: str, agent: str, domain: str | None, path: str) -> bool:
        robots = self._robots(sha)
        if robots is None:
            return False
        # Joined, the tokens let Protego pick the group naming any of them, else '*'.
        return not robots.can_fetch(
            f"https://{domain or 'localhost'}{path}", " ".join(self.tokens(agent))
        )

    def _robots(self, sha: str) -> Protego | None:
        if sha not in self.parsed:
            try:
                text = self.store.get(sha).decode("utf-8", "replace")
                self.parsed[sha] = Protego.parse(text)
            except (KeyError, ValueError) as e:
                self.findings.notes.append(f"robots.txt {sha} cannot be checked: {e}")
                self.parsed[sha] = None
        return self.parsed[sha]

    def finish(self) -> None:
        wanted = [a for a, fetched in sorted(self.seen.items()) if not fetched]
        self.findings.never_fetched_robots = [
            a for a in wanted if self.opts.agent is None or a == self.opts.agent
        ]


def render(findings: Findings) -> str:
    """Trap hits, what broke robots.txt, what the policy allowed after the reservation,
    then what was not checked and why."""
    rows = [
        [v.time, v.agent, v.identity, v.ip, v.path, v.status, v.rule, v.describe()]
        for v in findings.violations
    ]
    headers = ["time", "agent", "identity", "ip", "path", "status", "rule", "evidence"]
    text = traphits.render(findings.trap_hits) if findings.trap_hits else ""
    text += "Broke robots.txt:\n"
    text += table(headers, rows) if rows else "no violations found\n"
    text += f"\n{len(rows)} violation(s)\n"
    allowed = [
        [v.time, v.agent, v.identity, v.ip, v.path, v.status, v.rule, v.describe()]
        for v in findings.allowed
    ]
    if allowed:
        text += "\nServed after the TDM reservation was shown, allowed by the policy's rule:\n"
        text += table(headers, allowed)
        text += f"\n{len(allowed)} request(s) the policy allowed\n"
    if findings.never_fetched_robots:
        text += (
            "never fetched robots.txt, so no robots.txt violation is claimed for: "
            + ", ".join(findings.never_fetched_robots)
            + "\n"
        )
    for note in dict.fromkeys(findings.notes):
        text += f"note: {note}\n"
    return text
