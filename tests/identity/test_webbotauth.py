"""Web Bot Auth verification: the draft's published vector, tampered variants and our own
signatures for the forms that have no published vector."""

from __future__ import annotations

import base64
import random
from collections.abc import Mapping

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from proxy.identity.webbotauth import (
    COVERAGE,
    SignedRequest,
    jwk_thumbprint,
    keys_from_jwks,
    parse_request,
    precheck,
    signature_base,
    verify,
)

# standards.md §7, from the Web Bot Auth draft; the key is RFC 9421 Appendix B.1.4.
RFC9421_JWK = {"kty": "OKP", "crv": "Ed25519", "x": "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs"}
VECTOR_KEYID = "poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U"
VECTOR_NONCE = (
    "n9p433xm+NJ3ph3upfBIGmsuwHw387YV7Q/F+6BSpGCVjYCqQw6rznNA8PVVLySrAWsv0hQtFioQb6E1YsauiA=="
)
VECTOR_PARAMS = (
    '("@authority" "signature-agent";key="agent2");created=1735689600;'
    f'keyid="{VECTOR_KEYID}";alg="ed25519";expires=4889289600;'
    f'nonce="{VECTOR_NONCE}";tag="web-bot-auth"'
)
VECTOR = {
    "Signature-Agent": 'agent2="https://signature-agent.test"',
    "Signature-Input": f"sig2={VECTOR_PARAMS}",
    "Signature": "sig2=:RdNFx5Bj6au3YgAMQL/RzmUlZE8QZLIaXGRpw985hWnwPfMxT228NMk6ehRS1PSl4e8Ph"
    "bNZACSanGdhEwYCCg==:",
}
VECTOR_NOW = 1735689600 + 3600
NOW = 1_760_000_000


def rfc_keys() -> dict[str, Ed25519PublicKey]:
    return keys_from_jwks({"keys": [RFC9421_JWK]})


def vector(headers: Mapping[str, str] = VECTOR, authority: str = "example.com") -> SignedRequest:
    signed = parse_request(headers, "GET", authority, "/", "https")
    assert signed is not None
    return signed


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwk_of(key: Ed25519PrivateKey) -> dict[str, str]:
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}


def sign(
    key: Ed25519PrivateKey,
    components: str = '"@authority" "signature-agent";key="a"',
    agent: str = 'a="https://agent.example"',
    extra: Mapping[str, str] | None = None,
    params: str = "",
    target: tuple[str, str, str] = ("GET", "example.com", "/"),
) -> dict[str, str]:
    """Sign a request the way an agent would, using our own signature base."""
    keyid = jwk_thumbprint(jwk_of(key))
    params = params or f'created={NOW - 10};expires={NOW + 300};keyid="{keyid}";tag="web-bot-auth"'
    headers = {"Signature-Agent": agent, **(extra or {})}
    headers["Signature-Input"] = f"sig1=({components});{params}"
    unsigned = parse_request({**headers, "Signature": "sig1=:AAAA:"}, *target)
    assert unsigned is not None
    signature = key.sign(signature_base(unsigned))
    return {**headers, "Signature": f"sig1=:{base64.b64encode(signature).decode()}:"}


def check(
    headers: Mapping[str, str],
    key: Ed25519PrivateKey,
    target: tuple[str, str, str] = ("GET", "example.com", "/"),
    now: float = NOW,
    **kwargs: float,
) -> str:
    signed = parse_request(headers, *target)
    assert signed is not None
    result = verify(signed, keys_from_jwks({"keys": [jwk_of(key)]}), now, **kwargs)
    assert result.ok == (result.reason == "verified")
    return result.reason


# The published vector -------------------------------------------------------------------


def test_thumbprint_of_the_rfc9421_key_is_the_vector_keyid() -> None:
    assert jwk_thumbprint(RFC9421_JWK) == VECTOR_KEYID
    assert list(rfc_keys()) == [VECTOR_KEYID]


def test_published_vector_verifies() -> None:
    result = verify(vector(), rfc_keys(), VECTOR_NOW)
    assert result.ok, result.reason
    assert result.agent == "https://signature-agent.test"
    assert result.keyid == VECTOR_KEYID


def test_published_vector_signature_base() -> None:
    assert signature_base(vector()).decode() == (
        '"@authority": example.com\n'
        '"signature-agent";key="agent2": "https://signature-agent.test"\n'
        f'"@signature-params": {VECTOR_PARAMS}'
    )


def test_default_port_is_not_part_of_the_authority() -> None:
    assert verify(vector(authority="Example.COM:443"), rfc_keys(), VECTOR_NOW).ok


def test_vector_through_a_header_getter() -> None:
    lowered = {k.lower(): v for k, v in VECTOR.items()}
    signed = parse_request(lowered.get, "GET", "example.com", "/", "https")
    assert signed is not None
    assert verify(signed, rfc_keys(), VECTOR_NOW).ok


@pytest.mark.parametrize(
    ("change", "authority", "now", "reason"),
    [
        ({}, "example.org", VECTOR_NOW, "bad signature"),
        (
            {"Signature-Agent": 'agent2="https://evil.test"'},
            "example.com",
            VECTOR_NOW,
            "bad signature",
        ),
        ({}, "example.com", 4889289600 + 61, "expired"),
        ({}, "example.com", 1735689600 - 61, "created in the future"),
        (
            {"Signature": "sig2=:" + "A" * 86 + "==:"},
            "example.com",
            VECTOR_NOW,
            "bad signature",
        ),
        (
            {"Signature-Input": "sig2=" + VECTOR_PARAMS.replace("web-bot-auth", "other")},
            "example.com",
            VECTOR_NOW,
            "no web-bot-auth signature",
        ),
        (
            {"Signature-Input": "sig2=" + VECTOR_PARAMS.replace('"ed25519"', '"rsa-pss-sha512"')},
            "example.com",
            VECTOR_NOW,
            "alg not ed25519",
        ),
        ({"Signature": "sig1=:AAAA:"}, "example.com", VECTOR_NOW, "no Signature for label sig2"),
    ],
    ids=["authority", "agent", "expired", "future", "sig-bytes", "tag", "alg", "label"],
)
def test_tampered_vector_fails(
    change: dict[str, str], authority: str, now: int, reason: str
) -> None:
    result = verify(vector({**VECTOR, **change}, authority), rfc_keys(), now)
    assert (result.ok, result.reason) == (False, reason)


def test_vector_within_clock_skew_still_verifies() -> None:
    assert verify(vector(), rfc_keys(), 1735689600 - 59).ok
    assert verify(vector(), rfc_keys(), 4889289600 + 59).ok


def test_flipped_signature_bit_fails() -> None:
    signed = vector()
    flipped = bytes([signed.signature[0] ^ 1]) + signed.signature[1:]
    signature = base64.b64encode(flipped).decode()
    result = verify(vector({**VECTOR, "Signature": f"sig2=:{signature}:"}), rfc_keys(), VECTOR_NOW)
    assert result.reason == "bad signature"


def test_wrong_key_under_the_vector_keyid_fails() -> None:
    other = keys_from_jwks({"keys": [jwk_of(Ed25519PrivateKey.generate())]})
    assert verify(vector(), {VECTOR_KEYID: next(iter(other.values()))}, VECTOR_NOW).reason == (
        "bad signature"
    )


def test_key_not_in_the_directory_is_unknown() -> None:
    other = keys_from_jwks({"keys": [jwk_of(Ed25519PrivateKey.generate())]})
    assert verify(vector(), other, VECTOR_NOW).reason == "unknown key"


def test_validity_cap_is_optional() -> None:
    """The published vector is valid for a century; a deployment may cap validity."""
    result = verify(vector(), rfc_keys(), VECTOR_NOW, max_validity=86400)
    assert result.reason == "validity longer than 86400 s"


def test_precheck_rejects_a_stale_signature_before_any_key_fetch() -> None:
    assert precheck(vector(), VECTOR_NOW) is None
    stale = precheck(vector(), 4889289600 + 3600)
    assert stale is not None
    assert stale.reason == "expired"


# Missing and garbage headers ------------------------------------------------------------


def test_unsigned_request_is_none() -> None:
    assert parse_request({"User-Agent": "GPTBot"}, "GET", "example.com", "/") is None
    assert parse_request({"Signature-Agent": '"https://a.test"'}, "GET", "x", "/") is None


@pytest.mark.parametrize(
    ("drop", "reason"),
    [
        ("Signature", "missing Signature-Input or Signature header"),
        ("Signature-Input", "missing Signature-Input or Signature header"),
        ("Signature-Agent", "missing covered field signature-agent"),
    ],
)
def test_missing_header_fails(drop: str, reason: str) -> None:
    headers = {k: v for k, v in VECTOR.items() if k != drop}
    assert verify(vector(headers), rfc_keys(), VECTOR_NOW).reason == reason


GARBAGE = [
    {"Signature-Input": "(((", "Signature": "sig2=:AAAA:"},
    {"Signature-Input": "sig2=1", "Signature": "sig2=2"},
    {"Signature-Input": 'sig2=();tag="web-bot-auth"', "Signature": "sig2=:AAAA:"},
    {"Signature-Input": 'sig2=(a b);tag="web-bot-auth"', "Signature": "sig2=:AAAA:"},
    {"Signature-Input": 'sig2=("A");tag="web-bot-auth"', "Signature": "sig2=:AAAA:"},
    {"Signature-Input": 'sig2=("x";key=1);tag="web-bot-auth"', "Signature": "sig2=:AAAA:"},
    {**VECTOR, "Signature": "sig2=:not base64:"},
    {**VECTOR, "Signature": 'sig2="text"'},
    {**VECTOR, "Signature-Agent": "agent2=https://unquoted"},
    {**VECTOR, "Signature-Agent": 'agent2=("https://a" "https://b")'},
    {**VECTOR, "Signature-Agent": 'agent2="https://a";type=nonsense'},
    {**VECTOR, "Signature-Agent": 'agent2="http://plain.test"'},
    {**VECTOR, "Signature-Agent": 'agent2="https://a.test/path"'},
    {**VECTOR, "Signature-Agent": 'agent2="https://[::1"'},
    {**VECTOR, "Signature-Agent": 'agent2="https://user@a.test"'},
    {**VECTOR, "Signature-Agent": 'other="https://a.test"'},
    {**VECTOR, "Signature-Input": VECTOR["Signature-Input"].replace("1735689600", "1.5")},
    {**VECTOR, "Signature-Input": VECTOR["Signature-Input"].replace("1735689600", "?1")},
    {**VECTOR, "Signature-Input": VECTOR["Signature-Input"] + ", \udcff"},
    {**VECTOR, "Signature-Input": "sig2=" + VECTOR_PARAMS.replace('keyid="', "keyid=:")[:-1]},
    {**VECTOR, "Signature-Input": "sig2=" + VECTOR_PARAMS.replace("created=1735689600;", "")},
    {**VECTOR, "Signature-Input": "sig2=" + VECTOR_PARAMS.replace('"@authority"', '"@method"')},
    {**VECTOR, "Signature-Input": "sig2=" + VECTOR_PARAMS.replace('"@authority" ', '"@x" "@x" ')},
    {**VECTOR, "Signature-Input": "sig2=" + VECTOR_PARAMS.replace(';key="agent2"', "")},
    {**VECTOR, "Signature-Agent": '"https://" "x"'},
    {"signature-input": "\x00\x01\x02", "signature": "\n\r", "signature-agent": "\t"},
    {"Signature-Input": "sig2=" + "(" * 5000, "Signature": ""},
]


@pytest.mark.parametrize("headers", GARBAGE)
def test_garbage_headers_fail_without_raising(headers: dict[str, str]) -> None:
    signed = parse_request(headers, "GET", "example.com", "/")
    assert signed is not None
    result = verify(signed, rfc_keys(), VECTOR_NOW)
    assert not result.ok
    assert 0 < len(result.reason) <= 200


def test_random_header_values_never_raise() -> None:
    rng = random.Random(9421)
    alphabet = '()";=:,*?@ abcxyz019-_/+\\\t\x7f\u00e9'
    for _ in range(500):
        values = ["".join(rng.choices(alphabet, k=rng.randrange(40))) for _ in range(3)]
        names = ("Signature-Input", "Signature", "Signature-Agent")
        signed = parse_request(dict(zip(names, values, strict=True)), "GET", "a", "/")
        assert signed is None or not verify(signed, rfc_keys(), NOW).ok


# Our own signatures, for forms without a published vector -------------------------------


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def test_round_trip_with_every_supported_component(key: Ed25519PrivateKey) -> None:
    components = (
        '"@method" "@authority" "@scheme" "@target-uri" "@request-target" "@path" "@query" '
        '"user-agent" "signature-agent";key="a"'
    )
    target = ("POST", "shop.example:8443", "/a/b?q=1&r")
    headers = sign(key, components, extra={"User-Agent": "  Bot/1.0 "}, target=target)
    assert check(headers, key, target) == "verified"
    signed = parse_request(headers, *target)
    assert signed is not None
    assert signature_base(signed).decode().splitlines()[:8] == [
        '"@method": POST',
        '"@authority": shop.example:8443',
        '"@scheme": https',
        '"@target-uri": https://shop.example:8443/a/b?q=1&r',
        '"@request-target": /a/b?q=1&r',
        '"@path": /a/b',
        '"@query": ?q=1&r',
        '"user-agent": Bot/1.0',
    ]
    assert check(headers, key, ("GET", "shop.example:8443", "/a/b?q=1&r")) == "bad signature"
    assert check(headers, key, ("POST", "shop.example:8443", "/a/b?q=2")) == "bad signature"


def test_legacy_string_signature_agent_verifies(key: Ed25519PrivateKey) -> None:
    headers = sign(key, '"@authority" "signature-agent"', agent='"https://agent.example/"')
    signed = parse_request(headers, "GET", "example.com", "/")
    assert signed is not None
    assert signed.agent == "https://agent.example"
    assert check(headers, key) == "verified"
    tampered = {**headers, "Signature-Agent": '"https://other.example"'}
    assert check(tampered, key) == "bad signature"


def test_uncovered_key_on_a_single_member_dictionary_verifies(key: Ed25519PrivateKey) -> None:
    headers = sign(key, '"@authority" "signature-agent"', agent='a="https://agent.example"')
    assert check(headers, key) == "verified"


def test_jwks_uri_agent_keeps_its_url(key: Ed25519PrivateKey) -> None:
    agent = 'a="https://agent.example/keys.json";type=jwks_uri'
    headers = sign(key, agent=agent)
    signed = parse_request(headers, "GET", "example.com", "/")
    assert signed is not None
    assert (signed.agent, signed.agent_type) == ("https://agent.example/keys.json", "jwks_uri")
    assert check(headers, key) == "verified"


def test_the_member_the_signature_names_is_the_agent(key: Ed25519PrivateKey) -> None:
    agent = 'a="https://first.example", b="https://second.example"'
    headers = sign(key, '"@authority" "signature-agent";key="b"', agent=agent)
    signed = parse_request(headers, "GET", "example.com", "/")
    assert signed is not None
    assert signed.agent == "https://second.example"
    assert check(headers, key) == "verified"


@pytest.mark.parametrize(
    ("components", "reason"),
    [
        ('"@method" "signature-agent";key="a"', COVERAGE),
        ('"@authority"', COVERAGE),
        ('"@authority" "signature-agent";key="a" "@status"', 'unsupported component "@status"'),
        (
            '"@authority" "signature-agent";key="a" "@method";key="x"',
            'unsupported component "@method";key="x"',
        ),
        (
            '"@authority" "signature-agent";key="a" "@query-param";name="q"',
            "unsupported parameter name on component @query-param",
        ),
        (
            '"@authority" "signature-agent";key="a" "accept";sf',
            "unsupported parameter sf on component accept",
        ),
        ('"@authority" "signature-agent";key="a" "accept"', "missing covered field accept"),
        (
            '"@authority" "signature-agent";key="a" "signature-agent";key="zz"',
            "field signature-agent has no member zz",
        ),
    ],
)
def test_components_we_cannot_check_fail(
    key: Ed25519PrivateKey, components: str, reason: str
) -> None:
    keyid = jwk_thumbprint(jwk_of(key))
    params = f'created={NOW};expires={NOW + 60};keyid="{keyid}";tag="web-bot-auth"'
    headers = {
        "Signature-Agent": 'a="https://agent.example"',
        "Signature-Input": f"sig1=({components});{params}",
        "Signature": "sig1=:AAAA:",
    }
    assert check(headers, key) == reason


def test_dictionary_member_with_inner_list_is_serialised(key: Ed25519PrivateKey) -> None:
    extra = {"X-Dict": 'l=("a" "b");p=1, s=?1'}
    components = '"@authority" "signature-agent";key="a" "x-dict";key="l" "x-dict";key="s"'
    headers = sign(key, components, extra=extra)
    signed = parse_request(headers, "GET", "example.com", "/")
    assert signed is not None
    assert signature_base(signed).decode().splitlines()[2:4] == [
        '"x-dict";key="l": ("a" "b");p=1',
        '"x-dict";key="s": ?1',
    ]
    assert check(headers, key) == "verified"


def test_a_line_break_in_a_covered_field_fails(key: Ed25519PrivateKey) -> None:
    headers = sign(key, '"@authority" "signature-agent";key="a" "x"', extra={"X": "a"})
    assert check({**headers, "X": "a\nb"}, key) == "line break in component x"


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        (f"created={NOW};expires={NOW - 100}", "expired"),
        (f"created={NOW + 100};expires={NOW + 200}", "created in the future"),
        (f"created={NOW};expires={NOW - 30}", "expires before created"),
        (f"expires={NOW + 200}", "signature parameters must include keyid, created and expires"),
    ],
)
def test_time_parameters(key: Ed25519PrivateKey, params: str, reason: str) -> None:
    keyid = jwk_thumbprint(jwk_of(key))
    headers = sign(key, params=f'{params};keyid="{keyid}";tag="web-bot-auth"')
    assert check(headers, key) == reason


def test_a_second_untagged_signature_is_ignored(key: Ed25519PrivateKey) -> None:
    headers = sign(key)
    headers["Signature-Input"] = 'other=("@method");tag="x", ' + headers["Signature-Input"]
    headers["Signature"] = "other=:AAAA:, " + headers["Signature"]
    assert check(headers, key) == "verified"


# JWK Sets ------------------------------------------------------------------------------


def test_keys_from_jwks_skips_other_key_types(key: Ed25519PrivateKey) -> None:
    doc = {
        "keys": [
            {"kty": "RSA", "n": "AQAB", "e": "AQAB"},
            {"kty": "OKP", "crv": "X25519", "x": "abc"},
            {**jwk_of(key), "kid": "whatever", "use": "sig"},
        ]
    }
    assert list(keys_from_jwks(doc)) == [jwk_thumbprint(jwk_of(key))]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "not a JWK Set"),
        ({"keys": {}}, "not a JWK Set"),
        ({"keys": [RFC9421_JWK] * 33}, "too many keys: 33 > 32"),
        ({"keys": ["x"]}, "key 0 is not an object"),
        ({"keys": [{**RFC9421_JWK, "x": 1}]}, "key 0: x is not"),
        ({"keys": [{**RFC9421_JWK, "x": "AAAA"}]}, "key 0: x is not"),
        ({"keys": [{**RFC9421_JWK, "x": "+" * 43}]}, "key 0: x is not"),
    ],
)
def test_malformed_jwks_raises(doc: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        keys_from_jwks(doc)


def test_thumbprints_of_other_key_types() -> None:
    # RFC 7638 §3.1's example RSA key thumbprint.
    rsa = {
        "kty": "RSA",
        "e": "AQAB",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tS"
        "oc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0"
        "_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4"
        "vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    }
    assert jwk_thumbprint(rsa) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    with pytest.raises(ValueError, match="cannot compute a thumbprint of kty 'oct'"):
        jwk_thumbprint({"kty": "oct", "k": "x"})


@pytest.mark.parametrize(
    ("agent", "components", "reason"),
    [
        (
            'a="https://a.example", b="https://b.example"',
            '"@authority" "signature-agent"',
            "Signature-Agent has several members; the signature must pick one by key",
        ),
        (
            'a="https://a .example"',
            '"@authority" "signature-agent";key="a"',
            "Signature-Agent 'https://a .example' has spaces or non-ASCII characters",
        ),
    ],
)
def test_unusable_signature_agent(agent: str, components: str, reason: str) -> None:
    headers = {
        "Signature-Agent": agent,
        "Signature-Input": f'sig1=({components});tag="web-bot-auth"',
        "Signature": "sig1=:AAAA:",
    }
    signed = parse_request(headers, "GET", "example.com", "/")
    assert signed is not None
    assert signed.problem == reason
    with pytest.raises(ValueError, match="Signature-Agent"):
        signature_base(signed)
