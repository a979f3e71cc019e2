"""Checking a presented licence JWT on a request: signature, claims, revocation, scope.

The key set and the registry are read through callables on every check, so a
rotation or a revocation applies to the next request (the addon that owns the
files refreshes them; see addons/olp.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from proxy.licensing import jwttokens
from proxy.licensing.clients import Registry
from proxy.licensing.olp import Server
from proxy.licensing.tokens import INVALID_TOKEN, LicenceResult


@dataclass(frozen=True, slots=True)
class Verifier:
    server: Server
    keys: Callable[[], jwttokens.KeySet]
    registry: Callable[[], Registry]

    def verify(self, token: str, *, agent: str | None, path: str, now: float) -> LicenceResult:
        claims = jwttokens.decode(
            token,
            self.keys().public,
            issuer=self.server.issuer,
            audience=self.server.audience,
            now=now,
        )
        if isinstance(claims, LicenceResult):
            return claims
        if self.registry().revoked(claims.client_id, claims.jti):
            return LicenceResult(
                False, claims.licensee, claims.jti, INVALID_TOKEN, "the licence has been revoked"
            )
        return jwttokens.check(claims, agent=agent, path=path, now=now)
