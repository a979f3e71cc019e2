"""Licence tokens as standard JWTs (RFC 7519), signed with EdDSA (RFC 8037) by PyJWT.

The licence server (proxy.licensing.olp) issues them; the proxy checks them on
every request that presents `Authorization: License <jwt>`. The claims:

    iss, aud     the licence server's URL and the site's origin
    sub          the client_id of the licensee (OAuth 2.0 client)
    licensee     the licensee's organisation, as logged
    jti          the token's id, which `optout licensee revoke --jti` names
    iat, nbf, exp
    scope        the RSL usage tokens licensed, space-separated (OAuth `scope`)
    paths        robots.txt-style path patterns covered
    agents       the agent names covered ('*' = any)

The header's `kid` is the RFC 7638 thumbprint of the signing key, so a checker
picks the key from the JWKS without trying each. A presented token is wire
input: checking never raises, and descriptions never repeat the token.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from proxy.licensing.tokens import INVALID_REQUEST, INVALID_TOKEN, Grant, LicenceResult, in_scope

ALGORITHM = "EdDSA"
TOKEN_TYPE = "License"  # noqa: S105 - the OAuth token_type OLP names, not a secret
LEEWAY = 30  # seconds of clock skew allowed between replicas and the crawler
_REQUIRED = ["iss", "aud", "sub", "exp", "nbf", "iat", "jti"]


@dataclass(frozen=True, slots=True)
class Claims:
    """What a verified JWT grants."""

    client_id: str
    licensee: str
    jti: str
    usage: tuple[str, ...]
    paths: tuple[str, ...]
    agents: tuple[str, ...]
    iat: int
    nbf: int
    exp: int


def thumbprint(key: Ed25519PublicKey) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url): the key's `kid`."""
    members = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": _x(key)}, separators=(",", ":"))
    return _b64(hashlib.sha256(members.encode()).digest())


def public_jwk(key: Ed25519PublicKey) -> dict[str, str]:
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": _x(key),
        "kid": thumbprint(key),
        "alg": ALGORITHM,
        "use": "sig",
    }


class KeySet:
    """The signing keys, newest first: the newest signs, the newest two verify.

    Keeping the previous key in the JWKS is the rotation overlap: tokens signed
    before a rotation stay valid until they expire.
    """

    def __init__(self, keys: Sequence[Ed25519PrivateKey]) -> None:
        if not keys:
            raise ValueError("a key set needs at least one key")
        self.signing = keys[0]
        self.kid = thumbprint(keys[0].public_key())
        self.public = {thumbprint(k.public_key()): k.public_key() for k in keys[:2]}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [public_jwk(k) for k in self.public.values()]}


def issue(
    keys: KeySet,
    *,
    issuer: str,
    audience: str,
    client_id: str,
    licensee: str,
    usage: Sequence[str],
    paths: Sequence[str],
    agents: Sequence[str],
    now: float,
    lifetime: int,
    token_id: str | None = None,
) -> tuple[str, Claims]:
    """A signed token and its claims. Raises ValueError for a lifetime that is not positive."""
    if lifetime <= 0:
        raise ValueError("a token's lifetime must be positive")
    iat = int(now)
    claims = Claims(
        client_id,
        licensee,
        token_id or secrets.token_hex(12),
        tuple(usage),
        tuple(paths),
        tuple(agents),
        iat,
        iat,
        iat + lifetime,
    )
    payload = {
        "iss": issuer,
        "aud": audience,
        "sub": client_id,
        "licensee": licensee,
        "jti": claims.jti,
        "iat": iat,
        "nbf": iat,
        "exp": claims.exp,
        "scope": " ".join(usage),
        "paths": list(paths),
        "agents": list(agents),
    }
    token = jwt.encode(payload, keys.signing, algorithm=ALGORITHM, headers={"kid": keys.kid})
    return token, claims


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and not token.startswith("olt1.")


def decode(
    token: str, public: Mapping[str, Ed25519PublicKey], *, issuer: str, audience: str, now: float
) -> Claims | LicenceResult:
    """The claims of a token signed by one of `public` (by kid), or why it is refused."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return _fail(INVALID_REQUEST, "the licence token is malformed")
    key = public.get(str(header.get("kid")))
    if key is None or header.get("alg") != ALGORITHM:
        return _fail(INVALID_TOKEN, "the licence token is not signed by this site's keys")
    try:
        data = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            leeway=LEEWAY,
            # Times are checked below against `now`, so the check is a pure function.
            options={
                "require": _REQUIRED,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.InvalidSignatureError:
        return _fail(INVALID_TOKEN, "the licence token is not signed by this site's keys")
    except jwt.PyJWTError:
        return _fail(INVALID_TOKEN, "the licence token's claims are not this site's")
    claims = _claims(data)
    if claims is None:
        return _fail(INVALID_TOKEN, "the licence token's contents are not understood")
    if claims.nbf > now + LEEWAY:
        return _fail(INVALID_TOKEN, "the licence token is not valid yet")
    return claims


def check(claims: Claims, *, agent: str | None, path: str, now: float) -> LicenceResult:
    """Expiry and scope of verified claims, with the errors of the olt1 tokens."""
    grant = Grant(claims.licensee, claims.jti, claims.agents, claims.paths, claims.exp)
    return in_scope(grant, agent, path, now)


def _claims(data: dict[str, Any]) -> Claims | None:
    scope, paths, agents = data.get("scope"), data.get("paths"), data.get("agents")
    texts = (data.get("sub"), data.get("licensee"), data.get("jti"), scope)
    if not all(isinstance(t, str) for t in texts):
        return None
    if not _strings(paths) or not _strings(agents):
        return None
    iat, nbf, exp = (data.get(k) for k in ("iat", "nbf", "exp"))
    if not (_integer(iat) and _integer(nbf) and _integer(exp)):
        return None
    return Claims(
        str(data["sub"]),
        str(data["licensee"]),
        str(data["jti"]),
        tuple(str(scope).split()),
        tuple(paths),
        tuple(agents),
        iat,
        nbf,
        exp,
    )


def _integer(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _strings(value: object) -> TypeGuard[list[str]]:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


def _fail(error: str, description: str) -> LicenceResult:
    return LicenceResult(False, error=error, description=description)


def _x(key: Ed25519PublicKey) -> str:
    return _b64(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def generate_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()
