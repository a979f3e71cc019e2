"""The fields of a `challenge` rule, checked when the rules load.

    - name: challenge-datacenter-browsers
      network: datacenter
      action: challenge
      difficulty: 16        # leading zero bits of SHA-256 (16: about 65,000 hashes)
      nojs: true            # offer the no-JavaScript path (a meta refresh after a delay)
      nojs_delay: 5         # seconds it waits
      ttl: 24h              # how long a passed client's cookie is valid
      ipv4_prefix: 24       # the cookie holds for the client's /24 ...
      ipv6_prefix: 48       # ... or /48
      non_html: refuse      # requests that cannot show the page: refuse (403), allow, page

Every field is optional; the defaults are those of `ChallengeSpec`.
"""

from __future__ import annotations

from typing import Any

from proxy.config.trap import parse_ttl
from proxy.model import ChallengeSpec

KEYS = ("difficulty", "nojs", "nojs_delay", "ttl", "ipv4_prefix", "ipv6_prefix", "non_html")
MAX_DIFFICULTY = 32  # 2**32 hashes: hours in a browser; more is a block in disguise
MAX_TTL = 7 * 24 * 3600  # the key rotation period: a cookie never outlives both keys
DEFAULT_NOJS_DELAY = 5
MAX_NOJS_DELAY = 60
NON_HTML = ("refuse", "allow", "page")


def parse_challenge(entry: dict[str, Any], bad: Any) -> ChallengeSpec:
    """The spec of one rule; `bad(key, message)` is called for each problem."""
    spec = ChallengeSpec()
    difficulty = _integer(entry, "difficulty", spec.difficulty, 1, MAX_DIFFICULTY, bad)
    nojs = entry.get("nojs", False)
    if not isinstance(nojs, bool):
        bad("nojs", f"must be true or false, not {nojs!r}")
        nojs = False
    delay = _integer(entry, "nojs_delay", DEFAULT_NOJS_DELAY, 1, MAX_NOJS_DELAY, bad)
    if "nojs_delay" in entry and not nojs:
        bad("nojs_delay", "only a rule with 'nojs: true' has a no-JavaScript delay")
    ttl = spec.ttl
    if "ttl" in entry:
        try:
            ttl = parse_ttl(entry["ttl"])
        except ValueError as e:
            bad("ttl", str(e))
        if ttl > MAX_TTL:
            bad("ttl", f"must be at most 7d (the key rotation period), not {entry['ttl']!r}")
            ttl = MAX_TTL
    ipv4 = _integer(entry, "ipv4_prefix", spec.ipv4_prefix, 8, 32, bad)
    ipv6 = _integer(entry, "ipv6_prefix", spec.ipv6_prefix, 16, 128, bad)
    non_html = entry.get("non_html", spec.non_html)
    if non_html not in NON_HTML:
        bad("non_html", f"must be one of {', '.join(NON_HTML)}, not {non_html!r}")
        non_html = spec.non_html
    return ChallengeSpec(difficulty, delay if nojs else None, ttl, ipv4, ipv6, non_html)


def _integer(entry: dict[str, Any], key: str, default: int, low: int, high: int, bad: Any) -> int:
    value = entry.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        bad(key, f"must be a whole number from {low} to {high}, not {value!r}")
        return default
    return value
