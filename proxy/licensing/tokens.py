"""Licence tokens: how a licensed partner proves it may fetch what the rules hold back.

The crawler sends `Authorization: License <token>`, as RSL's Crawler Authorization
Protocol does. A token is either *signed* by the label (`olt1.<payload>.<signature>`,
Ed25519 over `olt1.<payload>`, issued by `optout licence issue`) or *listed* in the
rules as an opaque string, kept only as its SHA-256 so a leaked rules file leaks no
token. Either way it is scoped to agents, path patterns (robots.txt style) and an expiry.

Presented tokens are wire input: verification never raises, and its `description`
never repeats the token, because descriptions go into headers and logs. Keys and
listed licences are our configuration: they are checked strictly (ValueError).
The signature is checked before the payload is read, so unsigned JSON is never trusted.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any, NamedTuple, TypeGuard

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from proxy.patterns import PathMatcher, compile_paths

PREFIX = "olt1"
KEY_PREFIX = "ed25519:"
MAX_TOKEN = 4096  # longer Authorization values are refused unread
INVALID_REQUEST = "invalid_request"  # malformed header or token
INVALID_TOKEN = "invalid_token"  # noqa: S105 - bad signature, unknown token, unreadable payload
EXPIRED = "expired"
INSUFFICIENT_SCOPE = "insufficient_scope"  # agent or path not covered
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class Malformed(Enum):
    """The type of `MALFORMED`: an Authorization header that says License but no token."""

    MALFORMED = "malformed"


MALFORMED = Malformed.MALFORMED


@dataclass(frozen=True, slots=True)
class LicenceResult:
    """The outcome of checking one presented token; `error` is None when `ok`."""

    ok: bool
    licensee: str | None = None
    token_id: str | None = None
    error: str | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class ListedLicence:
    """A token listed in the rules, kept as the hex SHA-256 of the token (see `hash_token`)."""

    licensee: str
    token_sha256: str
    agents: tuple[str, ...]
    paths: tuple[str, ...]
    expires: datetime | None = None  # None: until the rules change

    def __post_init__(self) -> None:
        _check_scope(self.licensee, self.agents, self.paths)
        if re.fullmatch(r"[0-9a-f]{64}", self.token_sha256) is None:
            raise ValueError("token_sha256 must be 64 lower-case hex digits (optout licence hash)")
        if self.expires is not None:
            _aware(self.expires, "expires")


class Grant(NamedTuple):
    """What a token grants, whichever kind it is."""

    licensee: str
    token_id: str
    agents: Sequence[str]
    paths: Sequence[str]
    exp: float | None


def hash_token(token: str) -> str:
    """The form a listed token is kept in: the hex SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def parse_authorization(value: str | None) -> str | Malformed | None:
    """The token of `License <token>`; None for no header or another scheme."""
    scheme, _, rest = (value or "").strip().partition(" ")
    if scheme.lower() != "license":
        return None
    token = rest.strip(" ")
    ok = len(token) <= MAX_TOKEN and _TOKEN68.fullmatch(token) is not None
    return token if ok else MALFORMED


def challenge(error: str, description: str) -> str:
    """The `WWW-Authenticate` value for a refused licence, safe to put in a header."""
    return f"License error={_quote(error)}, error_description={_quote(description)}"


def _quote(text: str) -> str:
    # RFC 9110 quoted-string: escape '\' and '"'; control and non-ASCII characters
    # become spaces or '?', so nothing can split or corrupt the header.
    clean = "".join(
        " " if ord(c) < 0x20 or c == "\x7f" else c if ord(c) < 0x80 else "?" for c in text
    )
    return '"' + clean.replace("\\", "\\\\").replace('"', '\\"') + '"'


def issue(
    private_key: Ed25519PrivateKey,
    *,
    licensee: str,
    agents: Sequence[str],
    paths: Sequence[str],
    expires: datetime,
    issued: datetime | None = None,
    token_id: str | None = None,
) -> str:
    """A signed token for `licensee`. Raises ValueError for a bad scope or dates."""
    _check_scope(licensee, agents, paths)
    issued = issued if issued is not None else datetime.now(UTC)
    iat, exp = (
        int(_aware(issued, "issued").timestamp()),
        int(_aware(expires, "expires").timestamp()),
    )
    if exp <= iat:
        raise ValueError("expires must be after the time of issue")
    payload = {
        "v": 1,
        "id": token_id if token_id is not None else secrets.token_hex(8),
        "licensee": licensee,
        "agents": list(agents),
        "paths": list(paths),
        "iat": iat,
        "exp": exp,
    }
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    signed = f"{PREFIX}.{_b64encode(body.encode())}"
    return f"{signed}.{_b64encode(private_key.sign(signed.encode()))}"


def verify_token(
    token: str, public_keys: Sequence[Ed25519PublicKey], *, agent: str | None, path: str, now: float
) -> LicenceResult:
    """Check a signed token's signature, expiry and scope for a request by `agent`."""
    parts = token.split(".") if len(token) <= MAX_TOKEN else []
    if len(parts) != 3 or parts[0] != PREFIX:
        return _fail(INVALID_REQUEST, "the licence token is malformed")
    body, signature = _b64decode(parts[1]), _b64decode(parts[2])
    if body is None or signature is None or len(signature) != 64:
        return _fail(INVALID_REQUEST, "the licence token is malformed")
    signed = f"{parts[0]}.{parts[1]}".encode()
    if not any(_signed_by(key, signature, signed) for key in public_keys):
        return _fail(INVALID_TOKEN, "the licence token is not signed by this site's keys")
    grant = _claims(body)
    if grant is None:
        return _fail(INVALID_TOKEN, "the licence token's contents are not understood")
    return in_scope(grant, agent, path, now)


def verify_listed(
    token: str, listed: Sequence[ListedLicence], *, agent: str | None, path: str, now: float
) -> LicenceResult:
    """Check an opaque token against the listed hashes (constant time), then its scope."""
    digest = hash_token(token)
    found: ListedLicence | None = None
    for entry in listed:  # every entry is compared, so timing says nothing of the match
        if hmac.compare_digest(digest, entry.token_sha256) and found is None:
            found = entry
    if found is None:
        return _fail(INVALID_TOKEN, "the licence token is not known")
    exp = found.expires.timestamp() if found.expires is not None else None
    grant = Grant(found.licensee, digest[:16], found.agents, found.paths, exp)
    return in_scope(grant, agent, path, now)


def verify(
    token: str,
    *,
    public_keys: Sequence[Ed25519PublicKey],
    listed: Sequence[ListedLicence],
    agent: str | None,
    path: str,
    now: float,
) -> LicenceResult:
    """Check a presented token of either kind: listed first, then signed (`olt1.` prefix)."""
    result = verify_listed(token, listed, agent=agent, path=path, now=now)
    if result.error != INVALID_TOKEN or not token.startswith(PREFIX + "."):
        return result
    return verify_token(token, public_keys, agent=agent, path=path, now=now)


def in_scope(grant: Grant, agent: str | None, path: str, now: float) -> LicenceResult:
    def fail(error: str, description: str) -> LicenceResult:
        return LicenceResult(False, grant.licensee, grant.token_id, error, description)

    if grant.exp is not None and now >= grant.exp:
        when = datetime.fromtimestamp(grant.exp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return fail(EXPIRED, f"the licence expired at {when}")
    covered = {a.lower() for a in grant.agents}
    if "*" not in covered and (agent is None or agent.lower() not in covered):
        return fail(
            INSUFFICIENT_SCOPE, f"the licence does not cover the agent {agent or 'unknown'}"
        )
    pattern = _scope(tuple(grant.paths))
    if pattern is None or pattern.match(path) is None:
        return fail(INSUFFICIENT_SCOPE, "the licence does not cover this path")
    return LicenceResult(True, grant.licensee, grant.token_id)


@functools.lru_cache(maxsize=512)
def _scope(paths: tuple[str, ...]) -> PathMatcher | None:
    try:
        return compile_paths(list(paths))
    except ValueError:
        return None


def _claims(body: bytes) -> Grant | None:
    try:
        data: Any = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("v") != 1:
        return None
    licensee, token_id = data.get("licensee"), data.get("id")
    agents, paths, exp = data.get("agents"), data.get("paths"), data.get("exp")
    if not (isinstance(licensee, str) and isinstance(token_id, str) and _strings(agents)):
        return None
    if not _strings(paths) or not isinstance(exp, int) or isinstance(exp, bool):
        return None
    return Grant(licensee, token_id, agents, paths, exp)


def _strings(value: object) -> TypeGuard[list[str]]:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


def _signed_by(key: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    try:
        key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


def _fail(error: str, description: str) -> LicenceResult:
    return LicenceResult(False, error=error, description=description)


def _check_scope(licensee: str, agents: Sequence[str], paths: Sequence[str]) -> None:
    if not licensee.strip() or not licensee.isprintable():
        raise ValueError(f"licensee {licensee!r} must be a non-empty single-line name")
    if isinstance(agents, str) or not agents:
        raise ValueError("agents must be a non-empty list of agent names, or '*'")
    for name in agents:
        if not name or not name.isprintable() or name != name.strip():
            raise ValueError(f"agent {name!r} is not an agent name")
    if isinstance(paths, str) or not paths:
        raise ValueError("paths must be a non-empty list of path patterns, such as '/'")
    compile_paths(list(paths))


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must carry a time zone (for example UTC)")
    return moment


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes | None:
    """Strict base64url without padding; None unless `text` is its canonical encoding."""
    if _B64URL.fullmatch(text) is None or len(text) % 4 == 1:
        return None
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error:  # pragma: no cover - the pattern and length rule this out
        return None
    return data if _b64encode(data) == text else None


def generate_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def public_key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The one-line form rules list public keys in: `ed25519:` + base64url of the raw key."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return KEY_PREFIX + _b64encode(raw)


def parse_public_key(text: str) -> Ed25519PublicKey:
    """The key of a `public_key_text` line. Raises ValueError saying what is wrong."""
    stripped = text.strip()
    if not stripped.startswith(KEY_PREFIX):
        raise ValueError(f"public key {text!r} must start with {KEY_PREFIX!r}")
    raw = _b64decode(stripped[len(KEY_PREFIX) :])
    if raw is None or len(raw) != 32:
        raise ValueError(
            f"public key {text!r} must be {KEY_PREFIX!r} and 43 base64url characters (32 bytes)"
        )
    return Ed25519PublicKey.from_public_bytes(raw)
