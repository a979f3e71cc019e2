"""The policy's `trap:` section: a path only robots.txt violators fetch.

    trap:
      path: /catalogue/all-masters-a7c1     # disallowed for every agent in robots.txt
      ttl: 24h                              # how long a client that fetched it stays flagged

Opt-in: without the section there is no trap, no robots.txt line and no link.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from proxy.config import yamlsource

DEFAULT_TTL = 24 * 3600
MAX_TTL = 90 * 24 * 3600
_KEYS = ("path", "ttl")
# A plain path: robots.txt patterns (* and $) and anything needing escapes in HTML are out.
_PATH = re.compile(r"/[A-Za-z0-9._~/-]{1,200}")
_TTL = re.compile(r"(\d+)\s*([smhd]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True, slots=True)
class Trap:
    path: str
    ttl: int = DEFAULT_TTL  # seconds


def parse_ttl(value: Any) -> int:
    """Seconds from 3600, "90m", "24h" or "7d"; between 1 s and 90 days."""
    if isinstance(value, bool):
        raise ValueError(f"must be a duration like '24h', not {value!r}")
    found = _TTL.fullmatch(str(value).strip())
    if found is None:
        raise ValueError(f"must be a duration like '24h' or '7d', not {value!r}")
    seconds = int(found.group(1)) * _UNITS[found.group(2)]
    if not 0 < seconds <= MAX_TTL:
        raise ValueError(f"must be between 1s and 90d, not {value!r}")
    return seconds


def parse_trap(node: Any, report: yamlsource.Report, line: int | None) -> Trap | None:
    if not isinstance(node, dict):
        report.add(line, "must be a mapping with 'path' (and 'ttl')", field="trap")
        return None
    for key in yamlsource.unknown_keys(node, _KEYS):
        message = yamlsource.unknown_key(key, _KEYS)
        report.add(yamlsource.line_of(node, key), message, field=f"trap.{key}")
    path = node.get("path")
    where = yamlsource.line_of(node, "path") or line
    if not isinstance(path, str) or _PATH.fullmatch(path) is None:
        message = f"must be a path of letters, digits and ._~/-, not {path!r}"
        report.add(where, message, field="trap.path")
        return None
    # The signal files and /.well-known/ are open to every client, flagged or not.
    if path.rstrip("/") in ("/robots.txt", "/ai.txt") or path.startswith("/.well-known/"):
        report.add(where, f"{path!r} is a page every client may fetch", field="trap.path")
        return None
    try:
        ttl = parse_ttl(node.get("ttl", DEFAULT_TTL))
    except ValueError as e:
        report.add(yamlsource.line_of(node, "ttl") or line, str(e), field="trap.ttl")
        return None
    return Trap(path, ttl)
