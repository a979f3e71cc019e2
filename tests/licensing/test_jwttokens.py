"""Licence JWTs: issue and check, rotation overlap, tampering, claims of another server."""

from __future__ import annotations

import base64
import json

import jwt
import pytest

from proxy.licensing import jwttokens, keyfiles
from proxy.licensing.jwttokens import Claims, KeySet, decode, issue
from proxy.licensing.tokens import EXPIRED, INSUFFICIENT_SCOPE, INVALID_REQUEST, INVALID_TOKEN

ISS, AUD, NOW = "https://label.example/olp", "https://label.example", 1_800_000_000.0
KEY = jwttokens.generate_key()


def make(keys: KeySet, **kw: object) -> str:
    args: dict[str, object] = {
        "issuer": ISS,
        "audience": AUD,
        "client_id": "acme-ai",
        "licensee": "Acme AI Ltd",
        "usage": ["ai-train"],
        "paths": ["/music/"],
        "agents": ["GPTBot"],
        "now": NOW,
        "lifetime": 3600,
        "token_id": "j-1",
    }
    args.update(kw)
    return issue(keys, **args)[0]  # type: ignore[arg-type]


def claims_of(token: str, keys: KeySet, **kw: object) -> Claims | object:
    args = {"issuer": ISS, "audience": AUD, "now": NOW, **kw}
    return decode(token, keys.public, **args)  # type: ignore[arg-type]


def test_round_trip_and_scope() -> None:
    keys = KeySet([KEY])
    found = claims_of(make(keys), keys)
    assert isinstance(found, Claims)
    assert (found.client_id, found.licensee, found.jti, found.usage) == (
        "acme-ai", "Acme AI Ltd", "j-1", ("ai-train",),
    )  # fmt: skip
    assert jwttokens.check(found, agent="GPTBot", path="/music/a", now=NOW).ok
    outside = jwttokens.check(found, agent="GPTBot", path="/press/", now=NOW)
    assert outside.error == INSUFFICIENT_SCOPE
    assert jwttokens.check(found, agent="GPTBot", path="/music/a", now=NOW + 3600).error == EXPIRED


def test_header_names_the_key_and_the_algorithm() -> None:
    header = jwt.get_unverified_header(make(KeySet([KEY])))
    assert header == {"alg": "EdDSA", "kid": jwttokens.thumbprint(KEY.public_key()), "typ": "JWT"}


def test_rfc8037_thumbprint_vector() -> None:
    # RFC 8037 appendix A.3: the thumbprint of the A.2 public key.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    x = base64.urlsafe_b64decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
    key = Ed25519PublicKey.from_public_bytes(x)
    assert jwttokens.thumbprint(key) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_rotation_keeps_the_previous_key_for_one_rotation(tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = keyfiles.load(tmp_path)
    token = make(first)
    keyfiles.rotate(tmp_path)
    second = keyfiles.load(tmp_path)
    assert len(second.jwks()["keys"]) == 2
    assert second.kid != first.kid
    assert isinstance(claims_of(token, second), Claims)
    keyfiles.rotate(tmp_path)
    third = keyfiles.load(tmp_path)
    assert claims_of(token, third).error == INVALID_TOKEN  # type: ignore[union-attr]
    assert len(list(tmp_path.glob("*.pem"))) == 2


def _altered(token: str, **changes: object) -> str:
    head, body, signature = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload.update(changes)
    encoded = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    return f"{head}.{encoded}.{signature}"


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("altered-paths", INVALID_TOKEN),
        ("other-key-same-kid", INVALID_TOKEN),
        ("unknown-kid", INVALID_TOKEN),
        ("other-issuer", INVALID_TOKEN),
        ("other-audience", INVALID_TOKEN),
        ("not-yet-valid", INVALID_TOKEN),
        ("hs256", INVALID_TOKEN),
        ("garbage", INVALID_REQUEST),
    ],
)
def test_refused(name: str, error: str) -> None:
    keys = KeySet([KEY])
    other = KeySet([jwttokens.generate_key()])
    token = {
        "altered-paths": lambda: _altered(make(keys), paths=["/"]),
        "other-key-same-kid": lambda: jwt.encode(
            jwt.decode(make(keys), options={"verify_signature": False}),
            other.signing,
            algorithm="EdDSA",
            headers={"kid": keys.kid},
        ),
        "unknown-kid": lambda: make(other),
        "other-issuer": lambda: make(keys, issuer="https://elsewhere.example/olp"),
        "other-audience": lambda: make(keys, audience="https://elsewhere.example"),
        "not-yet-valid": lambda: make(keys, now=NOW + 600),
        "hs256": lambda: jwt.encode(
            {"sub": "x"}, "k" * 32, algorithm="HS256", headers={"kid": keys.kid}
        ),
        "garbage": lambda: "a.b.c",
    }[name]()
    result = claims_of(token, keys)
    assert not isinstance(result, Claims)
    assert result.error == error  # type: ignore[attr-defined]
    assert token not in result.description  # type: ignore[attr-defined]


def test_missing_claims_are_refused() -> None:
    keys = KeySet([KEY])
    payload = {"iss": ISS, "aud": AUD, "sub": "a", "iat": 1, "nbf": 1, "exp": int(NOW) + 9}
    token = jwt.encode(payload, keys.signing, algorithm="EdDSA", headers={"kid": keys.kid})
    assert claims_of(token, keys).error == INVALID_TOKEN  # type: ignore[union-attr]


def test_lifetime_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        make(KeySet([KEY]), lifetime=0)


def test_looks_like_jwt() -> None:
    assert jwttokens.looks_like_jwt("a.b.c")
    assert not jwttokens.looks_like_jwt("olt1.a.b")
    assert not jwttokens.looks_like_jwt("opaque")
