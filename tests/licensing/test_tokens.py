"""Licence tokens: signed and listed tokens, the Authorization header, the challenge, keys."""

from __future__ import annotations

import base64
import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key

from proxy.licensing import tokens as licence
from proxy.licensing.tokens import (
    EXPIRED,
    INSUFFICIENT_SCOPE,
    INVALID_REQUEST,
    INVALID_TOKEN,
    MALFORMED,
    ListedLicence,
    hash_token,
    issue,
    parse_authorization,
    verify,
    verify_listed,
    verify_token,
)
from proxy.store import keys

KEY = licence.generate_key()
OTHER = licence.generate_key()
ISSUED = datetime(2026, 1, 1, tzinfo=UTC)
EXPIRES = datetime(2027, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 6, 1, tzinfo=UTC).timestamp()


def token(**kw: object) -> str:
    args: dict[str, object] = {
        "licensee": "Acme AI",
        "agents": ["GPTBot", "ClaudeBot"],
        "paths": ["/catalogue/", "/press/*.html$"],
        "expires": EXPIRES,
        "issued": ISSUED,
        "token_id": "t-1",
    }
    args.update(kw)
    return issue(KEY, **args)  # type: ignore[arg-type]


def check(tok: str, agent: str | None = "GPTBot", path: str = "/catalogue/a", **kw: object):
    keys = kw.pop("keys", [KEY.public_key()])
    now = kw.pop("now", NOW)
    return verify_token(tok, keys, agent=agent, path=path, now=now)  # type: ignore[arg-type]


def test_round_trip() -> None:
    result = check(token())
    assert result == licence.LicenceResult(True, "Acme AI", "t-1")


def test_token_shape_and_payload() -> None:
    prefix, body, signature = token().split(".")
    assert prefix == "olt1"
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    assert payload == {
        "v": 1,
        "id": "t-1",
        "licensee": "Acme AI",
        "agents": ["GPTBot", "ClaudeBot"],
        "paths": ["/catalogue/", "/press/*.html$"],
        "iat": int(ISSUED.timestamp()),
        "exp": int(EXPIRES.timestamp()),
    }
    assert list(payload) == sorted(payload)  # json.loads keeps the order of the text
    assert len(base64.urlsafe_b64decode(signature + "==")) == 64


def test_defaults_for_issue_time_and_id() -> None:
    a = issue(KEY, licensee="A", agents=["*"], paths=["/"], expires=EXPIRES)
    b = issue(KEY, licensee="A", agents=["*"], paths=["/"], expires=EXPIRES)
    ra, rb = check(a, now=NOW), check(b, now=NOW)
    assert ra.ok
    assert rb.ok
    assert ra.token_id != rb.token_id


@pytest.mark.parametrize(
    ("agent", "path", "error"),
    [
        ("GPTBot", "/catalogue/", None),
        ("gptbot", "/catalogue/x", None),  # agent names are compared case-insensitively
        ("CLAUDEBOT", "/press/2026.html", None),
        ("GPTBot", "/press/2026.html?x", INSUFFICIENT_SCOPE),  # '$' anchors the end
        ("GPTBot", "/", INSUFFICIENT_SCOPE),
        ("GPTBot", "/Catalogue/", INSUFFICIENT_SCOPE),  # paths are case-sensitive
        ("Bytespider", "/catalogue/", INSUFFICIENT_SCOPE),
        (None, "/catalogue/", INSUFFICIENT_SCOPE),
    ],
)
def test_scope(agent: str | None, path: str, error: str | None) -> None:
    result = check(token(), agent=agent, path=path)
    assert result.error == error
    assert result.ok is (error is None)
    if error:
        assert result.licensee == "Acme AI"  # known once the signature verified: logged
        assert result.description


def test_star_covers_any_agent_and_none() -> None:
    tok = token(agents=["*"])
    assert check(tok, agent="Bytespider").ok
    assert check(tok, agent=None).ok


def test_scope_descriptions() -> None:
    assert "Bytespider" in check(token(), agent="Bytespider").description
    assert "unknown" in check(token(), agent=None).description
    assert "path" in check(token(), path="/private").description


@pytest.mark.parametrize(
    ("now", "ok"),
    [
        (EXPIRES.timestamp() - 1, True),
        (EXPIRES.timestamp(), False),
        (EXPIRES.timestamp() + 1e6, False),
    ],
)
def test_expiry(now: float, ok: bool) -> None:
    result = check(token(), now=now)
    assert result.ok is ok
    if not ok:
        assert result.error == EXPIRED
        assert result.description == "the licence expired at 2027-01-01T00:00:00Z"


def test_wrong_key_and_key_rotation() -> None:
    assert check(token(), keys=[OTHER.public_key()]).error == INVALID_TOKEN
    assert check(token(), keys=[]).error == INVALID_TOKEN
    assert check(token(), keys=[OTHER.public_key(), KEY.public_key()]).ok


def _tamper_payload(tok: str) -> str:
    prefix, body, signature = tok.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["paths"] = ["/"]
    raw = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return f"{prefix}.{base64.urlsafe_b64encode(raw).rstrip(b'=').decode()}.{signature}"


def _flip(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


def test_tampered_payload() -> None:
    result = check(_tamper_payload(token()), path="/")
    assert (result.ok, result.error, result.licensee) == (False, INVALID_TOKEN, None)


def test_tampered_signature() -> None:
    tok = token()
    assert check(_flip(tok, len(tok) - 10)).error == INVALID_TOKEN


def test_signature_covers_the_prefix() -> None:
    _, body, signature = token().split(".")
    assert check(f"olt2.{body}.{signature}").error == INVALID_REQUEST


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-5],  # truncated signature
        lambda t: t[: t.rindex(".")],  # signature missing
        lambda t: t[:20],
        lambda t: "",
        lambda t: "olt1..",
        lambda t: t + ".",
        lambda t: t + "=",  # padding is not canonical
        lambda t: t.replace(".", ". ", 1),
        lambda t: t[:-1] + "*",
        lambda t: t + "A" * 5000,  # too long to read
        lambda t: "not-a-token",
    ],
)
def test_malformed_tokens(mangle: object) -> None:
    result = check(mangle(token()))  # type: ignore[operator]
    assert (result.ok, result.error) == (False, INVALID_REQUEST)


def test_non_canonical_base64_is_malformed() -> None:
    tok = token()
    last = tok[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # 64 bytes encode to 86 characters: the last one carries 2 unused bits.
    odd = alphabet[alphabet.index(last) ^ 1]
    assert check(tok[:-1] + odd).error == INVALID_REQUEST


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[]",
        b'{"v":2}',
        b'{"v":1,"id":"x","licensee":"A","agents":[],"paths":["/"],"exp":9}',
        b'{"v":1,"id":"x","licensee":"A","agents":["*"],"paths":["/"],"exp":true}',
        b'{"v":1,"id":"x","licensee":"A","agents":["*"],"paths":["nope"],"exp":9999999999}',
        b'{"v":1,"id":1,"licensee":"A","agents":["*"],"paths":["/"],"exp":9999999999}',
    ],
)
def test_signed_but_unreadable_payload_is_invalid(payload: bytes) -> None:
    body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    signature = KEY.sign(f"olt1.{body}".encode())
    tok = f"olt1.{body}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
    result = check(tok, agent="GPTBot", path="/")
    assert result.error in (INVALID_TOKEN, INSUFFICIENT_SCOPE)
    assert not result.ok


def test_description_never_contains_the_token() -> None:
    tok = token()
    for result in (
        check(tok, agent="Bytespider"),
        check(tok, now=EXPIRES.timestamp()),
        check(tok, keys=[OTHER.public_key()]),
        check(tok[:-3]),
    ):
        assert tok not in result.description
        assert tok.split(".")[2][:10] not in result.description


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"licensee": ""}, "licensee"),
        ({"licensee": "a\nb"}, "licensee"),
        ({"agents": []}, "agents"),
        ({"agents": "GPTBot"}, "agents"),
        ({"agents": [" GPTBot"]}, "agent"),
        ({"paths": []}, "paths"),
        ({"paths": "/"}, "paths"),
        ({"paths": ["press"]}, "must start with"),
        ({"expires": datetime(2027, 1, 1)}, "time zone"),
        ({"expires": ISSUED}, "after the time of issue"),
        ({"issued": datetime(2026, 1, 1)}, "time zone"),
    ],
)
def test_issue_rejects_bad_scope(kw: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        token(**kw)


# Listed tokens ---------------------------------------------------------------

OPAQUE = "s3cr3t-partner-token"
LISTED = ListedLicence(
    licensee="Partner Co",
    token_sha256=hash_token(OPAQUE),
    agents=("GPTBot",),
    paths=("/",),
    expires=EXPIRES,
)
DECOY = ListedLicence("Decoy", hash_token("other"), ("*",), ("/",))


def test_hash_token_is_sha256_hex() -> None:
    assert hash_token("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_listed_token_verifies_and_is_kept_hashed() -> None:
    result = verify_listed(OPAQUE, [DECOY, LISTED], agent="gptbot", path="/x", now=NOW)
    assert result == licence.LicenceResult(True, "Partner Co", hash_token(OPAQUE)[:16])
    assert OPAQUE not in repr(LISTED)


@pytest.mark.parametrize(
    ("tok", "agent", "now", "error"),
    [
        ("unknown", "GPTBot", NOW, INVALID_TOKEN),
        (OPAQUE, "ClaudeBot", NOW, INSUFFICIENT_SCOPE),
        (OPAQUE, "GPTBot", EXPIRES.timestamp(), EXPIRED),
    ],
)
def test_listed_token_refused(tok: str, agent: str, now: float, error: str) -> None:
    result = verify_listed(tok, [LISTED], agent=agent, path="/", now=now)
    assert (result.ok, result.error) == (False, error)


def test_listed_without_expiry() -> None:
    assert verify_listed("other", [DECOY], agent=None, path="/", now=1e12).ok


def test_first_listed_match_wins() -> None:
    twin = ListedLicence("Twin", LISTED.token_sha256, ("*",), ("/",))
    assert verify_listed(OPAQUE, [LISTED, twin], agent="GPTBot", path="/", now=NOW).licensee == (
        "Partner Co"
    )


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"token_sha256": "ABC"}, "64 lower-case hex"),
        ({"token_sha256": hash_token("x").upper()}, "64 lower-case hex"),
        ({"agents": ()}, "agents"),
        ({"paths": ("x",)}, "must start with"),
        ({"expires": datetime(2027, 1, 1)}, "time zone"),
        ({"licensee": " "}, "licensee"),
    ],
)
def test_listed_licence_is_validated(kw: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "licensee": "P",
        "token_sha256": hash_token("x"),
        "agents": ("*",),
        "paths": ("/",),
    }
    args.update(kw)
    with pytest.raises(ValueError, match=message):
        ListedLicence(**args)  # type: ignore[arg-type]


def test_verify_tries_listed_then_signed() -> None:
    keys = [KEY.public_key()]
    kw = {"public_keys": keys, "listed": [LISTED], "agent": "GPTBot", "path": "/catalogue/"}
    assert verify(OPAQUE, now=NOW, **kw).licensee == "Partner Co"  # type: ignore[arg-type]
    assert verify(token(), now=NOW, **kw).licensee == "Acme AI"  # type: ignore[arg-type]
    assert verify("olt1.x.y", now=NOW, **kw).error == INVALID_REQUEST  # type: ignore[arg-type]
    assert verify("opaque", now=NOW, **kw).error == INVALID_TOKEN  # type: ignore[arg-type]
    listed_signed = ListedLicence("Listed", hash_token(token()), ("*",), ("/",))
    kw["listed"] = [listed_signed]
    assert verify(token(), now=NOW, **kw).licensee == "Listed"  # type: ignore[arg-type]


# The Authorization header ----------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("Bearer abc", None),
        ("Basic dXNlcjpwYXNz", None),
        ("Licensed abc", None),
        ("License\tabc", None),  # the scheme is followed by a space (RFC 9110 1*SP)
        ("License abc.DEF-_~+/=", "abc.DEF-_~+/="),
        ("license abc", "abc"),
        ("LICENSE abc", "abc"),
        ("License    abc  ", "abc"),
        ("  License abc", "abc"),
        ("License", MALFORMED),
        ("License ", MALFORMED),
        ("License a b", MALFORMED),
        ('License token="abc"', MALFORMED),
        ("License abc,def", MALFORMED),
        ("License =abc", MALFORMED),
        ("License é", MALFORMED),
        ("License a\r\nX-Injected: 1", MALFORMED),
        ("License " + "a" * 5000, MALFORMED),
        ("Bearer " + "a" * 5000, None),
    ],
)
def test_parse_authorization(value: str | None, expected: object) -> None:
    assert parse_authorization(value) == expected


# The challenge ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("description", "quoted"),
    [
        ("a licence is required", '"a licence is required"'),
        ('say "please"', r'"say \"please\""'),
        ("back\\slash", r'"back\\slash"'),
        ("line\r\nX-Injected: 1", '"line  X-Injected: 1"'),
        ("tab\tand\x7fdel", '"tab and del"'),
        ("café", '"caf?"'),
        ("", '""'),
    ],
)
def test_challenge_quoting(description: str, quoted: str) -> None:
    value = licence.challenge(INVALID_REQUEST, description)
    assert value == f'License error="invalid_request", error_description={quoted}'
    assert "\r" not in value
    assert "\n" not in value


def test_challenge_quotes_the_error_too() -> None:
    assert licence.challenge('a"b', "x") == 'License error="a\\"b", error_description="x"'


# Keys ------------------------------------------------------------------------


def test_key_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "label.key"
    keys.save_private_key(KEY, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = keys.load_private_key(path)
    assert licence.public_key_text(loaded) == licence.public_key_text(KEY)
    text = licence.public_key_text(KEY.public_key())
    assert text.startswith("ed25519:")
    assert len(text) == len("ed25519:") + 43
    assert check(token(), keys=[licence.parse_public_key(text)]).ok
    assert check(issue(loaded, licensee="L", agents=["*"], paths=["/"], expires=EXPIRES)).ok


def test_save_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "label.key"
    path.write_text("precious")
    with pytest.raises(FileExistsError):
        keys.save_private_key(KEY, path)
    assert path.read_text() == "precious"


def test_load_rejects_other_files(tmp_path: Path) -> None:
    garbage, ec = tmp_path / "garbage", tmp_path / "ec.pem"
    garbage.write_text("not a key")
    ec.write_bytes(
        generate_private_key(SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ValueError, match="not an unencrypted PEM private key"):
        keys.load_private_key(garbage)
    with pytest.raises(ValueError, match="not an Ed25519 private key"):
        keys.load_private_key(ec)
    with pytest.raises(OSError):  # noqa: PT011
        keys.load_private_key(tmp_path / "missing")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "must start with 'ed25519:'"),
        ("ssh-ed25519 AAAA", "must start with 'ed25519:'"),
        ("ed25519:", "43 base64url characters"),
        ("ed25519:" + "A" * 42, "43 base64url characters"),
        ("ed25519:" + "A" * 44, "43 base64url characters"),
        ("ed25519:" + "+" * 43, "43 base64url characters"),
    ],
)
def test_parse_public_key_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        licence.parse_public_key(text)


def test_parse_public_key_tolerates_surrounding_space() -> None:
    text = licence.public_key_text(KEY)
    assert licence.public_key_text(licence.parse_public_key(f"  {text}\n")) == text


def test_expiry_is_checked_against_now_from_the_caller() -> None:
    tok = token(expires=datetime.fromtimestamp(NOW, UTC) + timedelta(seconds=1))
    assert check(tok).ok
    assert check(tok, now=NOW + 1).error == EXPIRED
