"""Licensees: secrets kept as scrypt hashes, what an offer covers, revocations noticed."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

import pytest

from proxy.licensing.clients import (
    Licensee,
    Offer,
    Registry,
    authenticate,
    hash_secret,
    new_secret,
    revocations,
)

HASH = hash_secret("right")
ACME = Licensee(
    "acme-ai", HASH, "Acme AI Ltd", "", ("GPTBot",), (Offer(("ai-train",), ("/m/",), 60),)
)
REGISTRY = Registry(MappingProxyType({"acme-ai": ACME}))


def test_authenticate() -> None:
    assert authenticate(REGISTRY, "acme-ai", "right") is ACME
    assert authenticate(REGISTRY, "acme-ai", "wrong") is None
    assert authenticate(REGISTRY, "nobody", "right") is None
    assert "right" not in HASH
    assert hash_secret("right") != HASH  # salted
    assert len(new_secret()) >= 40


@pytest.mark.parametrize(
    ("usage", "path", "wanted", "covered"),
    [
        (("ai-train",), "/m/a", ("ai-train",), True),
        (("ai-train",), "/x", ("ai-train",), False),
        (("ai-train",), "/m/a", ("search",), False),
        (("ai-all",), "/m/a", ("ai-train", "ai-input"), True),
        (("ai-all",), "/m/a", ("search",), False),
        (("all",), "/m/a", ("search", "ai-train"), True),
    ],
)
def test_offer_covers(
    usage: tuple[str, ...], path: str, wanted: tuple[str, ...], covered: bool
) -> None:
    assert Offer(usage, ("/m/",), 60).covers(path, wanted) is covered


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"usage": ("mine",)}, "RSL usage tokens"),
        ({"paths": ()}, "non-empty list"),
        ({"term": 0}, "positive"),
    ],
)
def test_bad_offer(kw: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"usage": ("ai-train",), "paths": ("/",), "term": 60, **kw}
    with pytest.raises(ValueError, match=message):
        Offer(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"client_id": "a b"}, "client_id"),
        ({"secret_hash": "plain"}, "scrypt"),
        ({"organisation": " "}, "organisation"),
        ({"agents": ()}, "agents"),
        ({"offers": ()}, "at least one"),
    ],
)
def test_bad_licensee(kw: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replace(ACME, **kw)  # type: ignore[arg-type]


def test_revocations_are_noticed_once() -> None:
    revoked = Registry(MappingProxyType({"acme-ai": replace(ACME, revoked=True)}))
    token = Registry(MappingProxyType({"acme-ai": replace(ACME, revoked_tokens=frozenset({"j1"}))}))
    assert revocations(REGISTRY, revoked) == [
        {"action": "licence-revocation", "client_id": "acme-ai", "licensee": "Acme AI Ltd"}
    ]
    assert revocations(revoked, revoked) == []
    assert revocations(REGISTRY, token)[0]["jti"] == "j1"
    assert REGISTRY.revoked("nobody", "x")
    assert token.revoked("acme-ai", "j1")
    assert not token.revoked("acme-ai", "j2")
