"""The licensees: OAuth 2.0 clients of the licence server, and what each may obtain.

A licensee's secret is kept only as an scrypt hash (`hash_secret`), so a leaked
`rules/licensees.yaml` leaks no secret; checking one costs ~50 ms by design, and
an unknown client_id costs the same as a wrong secret, so timing does not say
which client ids exist. Revocation is data here (`revoked`, `revoked_tokens`),
checked on every request by proxy.licensing.olp.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from proxy.patterns import PathMatcher, compile_paths
from proxy.prices import Price

SCHEME = "scrypt"
_N, _R, _P = 2**14, 8, 1
CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
USAGE_TOKENS = ("all", "ai-all", "ai-train", "ai-input", "ai-index", "search")  # RSL 1.0
_HASH = re.compile(r"scrypt:(\d+):(\d+):(\d+):([A-Za-z0-9_-]+):([A-Za-z0-9_-]+)")


@dataclass(frozen=True, slots=True)
class Offer:
    """One licence a licensee may obtain: usage, paths, price per grant, term of a token."""

    usage: tuple[str, ...]
    paths: tuple[str, ...]
    term: int  # seconds a token granted under it lasts
    price: Price | None = None
    _matcher: PathMatcher | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.usage or any(u not in USAGE_TOKENS for u in self.usage):
            raise ValueError(f"usage must be RSL usage tokens: {', '.join(USAGE_TOKENS)}")
        if not self.paths:
            raise ValueError("paths must be a non-empty list of path patterns, such as '/'")
        if self.term <= 0:
            raise ValueError("term must be positive, such as 30d or 12h")
        object.__setattr__(self, "_matcher", compile_paths(list(self.paths)))

    def covers(self, path: str, usage: Sequence[str]) -> bool:
        granted = set(self.usage)
        wanted = set(usage)
        if "all" in granted or ("ai-all" in granted and all(u.startswith("ai-") for u in wanted)):
            wanted = set()
        return wanted <= granted and self._matcher is not None and bool(self._matcher.match(path))


@dataclass(frozen=True, slots=True)
class Licensee:
    client_id: str
    secret_hash: str
    organisation: str
    contact: str
    agents: tuple[str, ...]
    offers: tuple[Offer, ...]
    expires: datetime | None = None
    revoked: bool = False
    revoked_tokens: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if CLIENT_ID.fullmatch(self.client_id) is None:
            raise ValueError(f"client_id {self.client_id!r} must be letters, digits, '.', '_', '-'")
        if _HASH.fullmatch(self.secret_hash) is None:
            raise ValueError("secret_hash must be an scrypt hash (optout licensee add prints one)")
        if not self.organisation.strip() or not self.organisation.isprintable():
            raise ValueError("organisation must be a non-empty single-line name")
        if not self.agents or any(not a or a != a.strip() for a in self.agents):
            raise ValueError("agents must be a non-empty list of agent names, or '*'")
        if not self.offers:
            raise ValueError("licences must list at least one licence")


@dataclass(frozen=True, slots=True)
class Registry:
    licensees: Mapping[str, Licensee] = field(default_factory=dict)

    def get(self, client_id: str) -> Licensee | None:
        return self.licensees.get(client_id)

    def revoked(self, client_id: str, jti: str) -> bool:
        found = self.licensees.get(client_id)
        return found is None or found.revoked or jti in found.revoked_tokens


def hash_secret(secret: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = _scrypt(secret, salt, _N, _R, _P)
    return f"{SCHEME}:{_N}:{_R}:{_P}:{_b64(salt)}:{_b64(digest)}"


def new_secret() -> str:
    return secrets.token_urlsafe(32)


@functools.cache
def _dummy() -> str:
    """What an unknown client_id is checked against, so it costs what a wrong secret does."""
    return hash_secret("", b"\0" * 16)


def authenticate(registry: Registry, client_id: str, secret: str) -> Licensee | None:
    """The licensee whose client_id and secret these are, or None (same cost either way)."""
    found = registry.get(client_id)
    stored = found.secret_hash if found is not None else _dummy()
    match = _HASH.fullmatch(stored)
    if match is None:  # pragma: no cover - Licensee validates the form
        return None
    n, r, p = (int(g) for g in match.groups()[:3])
    salt, expected = _unb64(match.group(4)), _unb64(match.group(5))
    ok = hmac.compare_digest(_scrypt(secret, salt, n, r, p), expected)
    return found if ok and found is not None else None


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    data = secret.encode("utf-8", "surrogateescape")
    return hashlib.scrypt(data, salt=salt, n=n, r=r, p=p, maxmem=64 * 2**20, dklen=32)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def revocations(old: Registry, new: Registry) -> list[dict[str, str]]:
    """Ledger events for what `new` revokes that `old` did not (licensees, then tokens)."""
    events = []
    for client_id, now in new.licensees.items():
        before = old.licensees.get(client_id)
        if now.revoked and (before is None or not before.revoked):
            events.append(_revoked(now, None))
        for jti in sorted(now.revoked_tokens - (before.revoked_tokens if before else frozenset())):
            events.append(_revoked(now, jti))
    return events


def _revoked(licensee: Licensee, jti: str | None) -> dict[str, str]:
    event = {"action": "licence-revocation", "client_id": licensee.client_id}
    event["licensee"] = licensee.organisation
    return event | ({"jti": jti} if jti else {})
