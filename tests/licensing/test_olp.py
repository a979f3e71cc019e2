"""The OLP endpoints as pure functions: grants, RFC 6749 §5.2 errors, introspection."""

from __future__ import annotations

import base64
import urllib.parse
from datetime import UTC, datetime
from types import MappingProxyType

import pytest

from proxy.licensing import jwttokens, olp
from proxy.licensing.clients import Licensee, Offer, Registry, hash_secret
from proxy.licensing.oauth import FORM, Request
from proxy.licensing.olp import Server
from proxy.prices import parse_price

SERVER = Server("https://label.example/olp", "https://label.example", "/olp")
KEYS = jwttokens.KeySet([jwttokens.generate_key()])
NOW = 1_800_000_000.0
SECRET = "s3cret"
LICENSE = (
    '<license xmlns="https://rslstandard.org/rsl">'
    '<permits type="usage">ai-train</permits></license>'
)
HASH = hash_secret(SECRET)


def licensee(**kw: object) -> Licensee:
    args: dict[str, object] = {
        "client_id": "acme-ai",
        "secret_hash": HASH,
        "organisation": "Acme AI Ltd",
        "contact": "mailto:a@acme.example",
        "agents": ("GPTBot",),
        "offers": (Offer(("ai-train",), ("/music/",), 3600, parse_price("USD 10")),),
    }
    args.update(kw)
    return Licensee(**args)  # type: ignore[arg-type]


def registry(**kw: object) -> Registry:
    return Registry(MappingProxyType({"acme-ai": licensee(**kw)}))


def basic(client_id: str = "acme-ai", secret: str = SECRET) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def form(**fields: str) -> bytes:
    good = {"grant_type": "rsl", "license": LICENSE, "resource": "https://label.example/music/a"}
    return urllib.parse.urlencode({**good, **fields}).encode()


def post(body: bytes, auth: str | None = None, ctype: str = FORM, method: str = "POST") -> Request:
    return Request(method, ctype, auth if auth is not None else basic(), body)


def test_grant() -> None:
    answer = olp.token(post(form()), SERVER, registry(), KEYS, NOW)
    assert answer.status == 200
    assert answer.body["token_type"] == "License"
    assert answer.body["expires_in"] == 3600
    assert ("cache-control", "no-store") in answer.headers
    claims = jwttokens.decode(
        answer.body["access_token"],
        KEYS.public,
        issuer=SERVER.issuer,
        audience=SERVER.audience,
        now=NOW,
    )
    assert isinstance(claims, jwttokens.Claims)
    assert (claims.paths, claims.agents, claims.usage) == (("/music/",), ("GPTBot",), ("ai-train",))
    assert answer.event is not None
    assert answer.event["price"] == {"currency": "USD", "amount": "10"}
    assert SECRET not in repr(answer.event)
    assert answer.body["access_token"] not in repr(answer.event)


def test_client_secret_post() -> None:
    body = form(client_id="acme-ai", client_secret=SECRET)
    assert olp.token(post(body, auth=""), SERVER, registry(), KEYS, NOW).status == 200


def test_term_is_cut_at_the_agreements_end() -> None:
    ends = datetime.fromtimestamp(NOW + 600, UTC)
    answer = olp.token(post(form()), SERVER, registry(expires=ends), KEYS, NOW)
    assert answer.body["expires_in"] == 600


@pytest.mark.parametrize(
    ("request_", "reg", "status", "error"),
    [
        (post(form(), basic(secret="wrong")), {}, 401, "invalid_client"),
        (post(form(), basic(client_id="nobody")), {}, 401, "invalid_client"),
        (post(form(), ""), {}, 401, "invalid_client"),
        (post(form(), "Basic !!!"), {}, 401, "invalid_client"),
        (post(form(client_secret=SECRET)), {}, 400, "invalid_request"),
        (post(form(grant_type="client_credentials")), {}, 400, "unsupported_grant_type"),
        (post(b"license=x&resource=y"), {}, 400, "invalid_request"),
        (post(form(), ctype="application/json"), {}, 400, "invalid_request"),
        (post(form(), method="GET"), {}, 405, "invalid_request"),
        (post(form() + b"&resource=again"), {}, 400, "invalid_request"),
        (post(b"\xff=1"), {}, 400, "invalid_request"),
        (post(b"a=1&&b"), {}, 400, "invalid_request"),
        (post(form(license="<license/>")), {}, 400, "invalid_request"),
        (post(form(resource="/music/a")), {}, 400, "invalid_request"),
        (post(form(resource="https://other.example/music/a")), {}, 400, "invalid_target"),
        (post(form(resource="https://label.example/press/")), {}, 400, "invalid_scope"),
        (post(form(license=LICENSE.replace("ai-train", "search"))), {}, 400, "invalid_scope"),
        (post(form()), {"revoked": True}, 400, "invalid_grant"),
        (post(form()), {"expires": datetime.fromtimestamp(NOW - 1, UTC)}, 400, "invalid_grant"),
    ],
)
def test_errors(request_: Request, reg: dict[str, object], status: int, error: str) -> None:
    answer = olp.token(request_, SERVER, registry(**reg), KEYS, NOW)
    assert (answer.status, answer.body["error"]) == (status, error)
    assert answer.body["error_description"]
    assert answer.event is not None
    assert answer.event["action"] == "licence-refusal"
    assert SECRET not in repr(answer.event)


def test_failed_basic_authentication_asks_for_basic() -> None:
    answer = olp.token(post(form(), basic(secret="wrong")), SERVER, registry(), KEYS, NOW)
    assert ("www-authenticate", 'Basic realm="olp"') in answer.headers


def test_introspection() -> None:
    issued = olp.token(post(form()), SERVER, registry(), KEYS, NOW).body["access_token"]
    body = urllib.parse.urlencode({"token": issued}).encode()
    active = olp.introspect(post(body), SERVER, registry(), KEYS, NOW)
    assert active.body["active"] is True
    assert active.body["client_id"] == "acme-ai"
    assert active.body["scope"] == "ai-train"
    revoked = olp.introspect(post(body), SERVER, registry(revoked=True), KEYS, NOW)
    assert revoked.body == {"active": False}
    expired = olp.introspect(post(body), SERVER, registry(), KEYS, NOW + 3600)
    assert expired.body == {"active": False}
    garbage = urllib.parse.urlencode({"token": "a.b.c"}).encode()
    assert olp.introspect(post(garbage), SERVER, registry(), KEYS, NOW).body == {"active": False}
    missing = olp.introspect(post(b"x=1"), SERVER, registry(), KEYS, NOW)
    assert (missing.status, missing.body["error"]) == (400, "invalid_request")
    wrong = olp.introspect(post(body, basic(secret="no")), SERVER, registry(), KEYS, NOW)
    assert wrong.status == 401


def test_endpoints_and_jwks() -> None:
    assert SERVER.endpoint("/olp/token") == "token"
    assert SERVER.endpoint("/olp/introspect") == "introspect"
    assert SERVER.endpoint("/olp/jwks.json") == "jwks"
    assert SERVER.endpoint("/olp/other") is None
    assert SERVER.endpoint("/olptoken") is None
    assert Server("https://l.example", "https://l.example", "/").endpoint("/token") == "token"
    [key] = olp.jwks(KEYS).body["keys"]
    assert key["kid"] == KEYS.kid
    assert "d" not in key  # never the private part
