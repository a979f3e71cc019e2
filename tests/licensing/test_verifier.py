"""A presented JWT on a request: revocation by licensee or jti applies at once."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from proxy.licensing import jwttokens
from proxy.licensing.clients import Licensee, Offer, Registry, hash_secret
from proxy.licensing.olp import Server
from proxy.licensing.tokens import INVALID_TOKEN
from proxy.licensing.verifier import Verifier

SERVER = Server("https://l.example/olp", "https://l.example", "/olp")
KEYS = jwttokens.KeySet([jwttokens.generate_key()])
ACME = Licensee(
    "acme", hash_secret("s"), "Acme", "", ("GPTBot",), (Offer(("ai-train",), ("/",), 60),)
)
TOKEN, _ = jwttokens.issue(
    KEYS, issuer=SERVER.issuer, audience=SERVER.audience, client_id="acme", licensee="Acme",
    usage=["ai-train"], paths=["/m/"], agents=["GPTBot"], now=100.0, lifetime=60, token_id="j1",
)  # fmt: skip


def test_revocation_applies_to_the_next_check() -> None:
    current = [Registry(MappingProxyType({"acme": ACME}))]
    verifier = Verifier(SERVER, lambda: KEYS, lambda: current[0])
    ok = verifier.verify(TOKEN, agent="GPTBot", path="/m/a", now=110.0)
    assert (ok.ok, ok.licensee, ok.token_id) == (True, "Acme", "j1")
    for revoked in (replace(ACME, revoked_tokens=frozenset({"j1"})), replace(ACME, revoked=True)):
        current[0] = Registry(MappingProxyType({"acme": revoked}))
        refused = verifier.verify(TOKEN, agent="GPTBot", path="/m/a", now=110.0)
        assert (refused.ok, refused.error, refused.description) == (
            False, INVALID_TOKEN, "the licence has been revoked",
        )  # fmt: skip
    current[0] = Registry()  # a licensee removed from the file
    assert not verifier.verify(TOKEN, agent="GPTBot", path="/m/a", now=110.0).ok
    bad = verifier.verify("x.y.z", agent="GPTBot", path="/m/a", now=110.0)
    assert bad.error == "invalid_request"
