"""Path and host patterns, compiled once when the rules load.

Shared by policy rules, reservation overrides and licence scopes. Path patterns
follow robots.txt: they match from the start of the path, `*` matches any run of
characters and a trailing `$` anchors the end, so a plain `/press/` is a prefix.
Host patterns are whole-name globs (`*.label.example`).

A pattern with several `*` compiled for Python's backtracking engine can take
exponential time on a hostile path (`/*a*a*a*a*b` against "/aaaa…"). Patterns with
at most one `*` are linear there and fast; any list containing a pattern with more
is compiled with RE2 (google-re2), whose matching time is linear in the input.
"""

from __future__ import annotations

import re
from typing import Protocol

import re2

_RE_END, _RE2_END = r"\Z", r"\z"


class PathMatcher(Protocol):
    """A compiled path pattern: Python's `re` or RE2, which share this method."""

    def match(self, text: str) -> object | None: ...


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
