"""A compiled policy rule: ANDed matchers and an action.

Patterns are compiled when the rules load, so a bad pattern can never reach a
request. Path patterns follow robots.txt: they match from the start of the path,
`*` matches any run of characters and a trailing `$` anchors the end, so a plain
`/press/` is a prefix. Host patterns are whole-name globs (`*.label.example`).

A pattern with several `*` compiled for Python's backtracking engine can take
exponential time on a hostile path (`/*a*a*a*a*b` against "/aaaa…"). Patterns with
at most one `*` are linear there and fast; any list containing a pattern with more
is compiled with RE2 (google-re2), whose matching time is linear in the input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

import re2

from proxy.model import Action, Classification, Identity, Purpose, RequestInfo
from proxy.paycrawl import Price

_RE_END, _RE2_END = r"\Z", r"\z"


class PathMatcher(Protocol):
    """A compiled path pattern: Python's `re` or RE2, which share this method."""

    def match(self, text: str) -> object | None: ...


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    action: Action
    agents: frozenset[str] | None = None  # canonical names, lower-cased
    operators: frozenset[str] | None = None
    purposes: frozenset[Purpose] | None = None
    identities: frozenset[Identity] | None = None
    hosts: re.Pattern[str] | None = None
    paths: PathMatcher | None = None
    methods: frozenset[str] | None = None
    description: str = ""
    price: Price | None = None  # charge
    rate: tuple[float, int] | None = None  # throttle
    per_client: bool = False  # throttle

    def matches(self, request: RequestInfo, found: Classification) -> bool:
        agent = found.agent
        if self.agents is not None and (agent is None or agent.name.lower() not in self.agents):
            return False
        if self.operators is not None and (agent is None or agent.operator not in self.operators):
            return False
        if self.purposes is not None and (agent is None or agent.purpose not in self.purposes):
            return False
        if self.identities is not None and found.identity not in self.identities:
            return False
        if self.methods is not None and request.method.upper() not in self.methods:
            return False
        if self.hosts is not None and self.hosts.fullmatch(request.host.lower()) is None:
            return False
        return self.paths is None or self.paths.match(request.path) is not None


def compile_paths(patterns: list[str]) -> PathMatcher:
    """One matcher for a list of robots.txt-style path patterns. Raises ValueError."""
    parts = []
    for pattern in patterns:
        if not pattern.startswith(("/", "*")):
            raise ValueError(f"path pattern {pattern!r} must start with '/' or '*'")
        if any(c.isspace() or ord(c) < 0x20 for c in pattern):
            raise ValueError(f"path pattern {pattern!r} must not contain whitespace")
        anchored = pattern.endswith("$")
        body = pattern[:-1] if anchored else pattern
        if "$" in body:
            raise ValueError(f"path pattern {pattern!r}: '$' is only allowed at the end")
        parts.append((".*".join(re.escape(piece) for piece in body.split("*")), anchored))
    if any(p.count("*") > 1 for p in patterns):
        # RE2 spells the end of text \z; its match() is anchored at the start like re's.
        matcher: PathMatcher = re2.compile(
            "|".join(f"(?:{p}{_RE2_END if a else ''})" for p, a in parts)
        )
        return matcher
    return re.compile("|".join(f"(?:{p}{_RE_END if a else ''})" for p, a in parts))


_HOST = re.compile(r"(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?")


def compile_hosts(patterns: list[str]) -> re.Pattern[str]:
    """One regex for host names like `label.example` or `*.label.example`. Raises ValueError."""
    parts = []
    for pattern in patterns:
        lowered = pattern.lower()
        if lowered != "*" and _HOST.fullmatch(lowered) is None:
            raise ValueError(f"host pattern {pattern!r} is not a host name or '*.' + host name")
        if lowered == "*":
            parts.append(".*")
        elif lowered.startswith("*."):
            parts.append(r"(?:[^.]+\.)+" + re.escape(lowered[2:]))
        else:
            parts.append(re.escape(lowered))
    return re.compile("|".join(f"(?:{p})" for p in parts))
