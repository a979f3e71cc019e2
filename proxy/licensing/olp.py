"""The RSL Open License Protocol (OLP) server endpoints, pure: a request in, an answer out.

Under the licence server's URL (the RSL document's `server="…"`):

    POST {server}/token        grant_type=rsl, license=<RSL <license> element>, resource=URL
    POST {server}/introspect   token=... (RFC 7662)
    GET  {server}/jwks.json    the keys tokens are signed with (RFC 7517)

Where the OLP draft (rslstandard.org/api, 1.0 draft) is specific we follow it:
client authentication by OAuth 2.0 client credentials (HTTP Basic, RFC 6749
§2.3.1, or `client_secret_post`), the `rsl` grant type, the `license` and
`resource` parameters, token type `License`, errors per RFC 6749 §5.2. Where it
is silent we follow OAuth 2.0: POST only (405 otherwise), form bodies only,
no repeated parameters, one authentication method per request, 401 with
`WWW-Authenticate: Basic` for a failed Basic authentication, `invalid_target`
(RFC 8707) for a resource on another site, `Cache-Control: no-store` on every
answer, and `{"active": false}` for any token introspection cannot vouch for.
The key (decryption) endpoint is not offered: the proxy serves no encrypted assets.

Secrets never leave this module: the `event` of an answer, which the licence
ledger records, names the client but never its secret or the token.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any

from proxy.licensing import jwttokens
from proxy.licensing.clients import Licensee, Offer, Registry
from proxy.licensing.oauth import (
    INVALID_GRANT,
    INVALID_REQUEST,
    INVALID_SCOPE,
    INVALID_TARGET,
    NO_STORE,
    UNSUPPORTED_GRANT_TYPE,
    Answer,
    Request,
    authenticate_client,
    error,
    parse_form,
)
from proxy.licensing.rslrequest import parse_license

GRANT_TYPE = "rsl"


@dataclass(frozen=True, slots=True)
class Server:
    """The licence server's identity: `issuer` is its URL, `audience` the site's origin."""

    issuer: str
    audience: str
    path: str  # the path of `issuer`, where the endpoints live

    def endpoint(self, request_path: str) -> str | None:
        """'token', 'introspect' or 'jwks' for a path under the server, else None."""
        names = {"/token": "token", "/introspect": "introspect", "/jwks.json": "jwks"}
        base = self.path.rstrip("/")
        if not request_path.startswith(base + "/"):
            return None
        return names.get(request_path[len(base) :])


def token(
    request: Request, server: Server, registry: Registry, keys: jwttokens.KeySet, now: float
) -> Answer:
    """The token endpoint: authenticate the client, then grant the licence it asks for."""
    form = parse_form(request)
    if isinstance(form, Answer):
        return form
    client = authenticate_client(request, form, registry)
    if isinstance(client, Answer):
        return client
    event = {"client_id": client.client_id, "licensee": client.organisation}
    grant_type = form.get("grant_type")
    if grant_type is None:
        return error(400, INVALID_REQUEST, "grant_type is missing", **event)
    if grant_type != GRANT_TYPE:
        return error(400, UNSUPPORTED_GRANT_TYPE, "the grant type must be rsl", **event)
    if "license" not in form or "resource" not in form:
        return error(400, INVALID_REQUEST, "the license and resource parameters are required")
    wanted = parse_license(form["license"])
    if isinstance(wanted, str):
        return error(400, INVALID_REQUEST, wanted, **event)
    resource = urllib.parse.urlsplit(form["resource"])
    event["resource"] = form["resource"][:512]
    if resource.scheme not in ("http", "https") or not resource.netloc:
        return error(400, INVALID_REQUEST, "resource must be an absolute URL", **event)
    if _origin(resource) != server.audience:
        return error(400, INVALID_TARGET, f"this server licenses {server.audience}", **event)
    if client.revoked:
        return error(400, INVALID_GRANT, "the licence agreement has been revoked", **event)
    if client.expires is not None and now >= client.expires.timestamp():
        return error(400, INVALID_GRANT, "the licence agreement has expired", **event)
    offer = next((o for o in client.offers if o.covers(resource.path or "/", wanted)), None)
    if offer is None:
        return error(400, INVALID_SCOPE, "no licence of this client covers that", **event)
    return _grant(client, offer, wanted, server, keys, now, event)


def _grant(
    client: Licensee,
    offer: Offer,
    wanted: tuple[str, ...],
    server: Server,
    keys: jwttokens.KeySet,
    now: float,
    event: dict[str, Any],
) -> Answer:
    lifetime = offer.term
    if client.expires is not None:
        lifetime = min(lifetime, int(client.expires.timestamp() - now))
    issued, claims = jwttokens.issue(
        keys,
        issuer=server.issuer,
        audience=server.audience,
        client_id=client.client_id,
        licensee=client.organisation,
        usage=wanted,
        paths=offer.paths,
        agents=client.agents,
        now=now,
        lifetime=max(lifetime, 1),
    )
    body = {"access_token": issued, "token_type": jwttokens.TOKEN_TYPE, "expires_in": lifetime}
    body["scope"] = " ".join(wanted)
    price = (
        {"currency": offer.price.currency, "amount": str(offer.price.amount)}
        if offer.price is not None
        else None
    )
    granted = {"action": "licence-grant", "jti": claims.jti, "exp": claims.exp, "price": price}
    granted |= {"usage": list(wanted), "paths": list(offer.paths), "agents": list(client.agents)}
    return Answer(200, body, NO_STORE, {**event, **granted})


def introspect(
    request: Request, server: Server, registry: Registry, keys: jwttokens.KeySet, now: float
) -> Answer:
    """RFC 7662: whether a token is active, for the client it was issued to."""
    form = parse_form(request)
    if isinstance(form, Answer):
        return form
    client = authenticate_client(request, form, registry)
    if isinstance(client, Answer):
        return client
    if "token" not in form:
        return error(400, INVALID_REQUEST, "the token parameter is required")
    event = {"action": "licence-introspection", "client_id": client.client_id}
    claims = jwttokens.decode(
        form["token"], keys.public, issuer=server.issuer, audience=server.audience, now=now
    )
    if (
        not isinstance(claims, jwttokens.Claims)
        or claims.client_id != client.client_id
        or registry.revoked(claims.client_id, claims.jti)
        or now >= claims.exp
    ):
        return Answer(200, {"active": False}, NO_STORE, {**event, "active": False})
    body = {
        "active": True,
        "token_type": jwttokens.TOKEN_TYPE,
        "client_id": claims.client_id,
        "sub": claims.client_id,
        "iss": server.issuer,
        "aud": server.audience,
        "jti": claims.jti,
        "iat": claims.iat,
        "nbf": claims.nbf,
        "exp": claims.exp,
        "scope": " ".join(claims.usage),
        "licensee": claims.licensee,
        "paths": list(claims.paths),
        "agents": list(claims.agents),
    }
    return Answer(200, body, NO_STORE, {**event, "active": True, "jti": claims.jti})


def jwks(keys: jwttokens.KeySet) -> Answer:
    return Answer(200, keys.jwks(), (("cache-control", "max-age=300"),))


def _origin(url: urllib.parse.SplitResult) -> str:
    return f"{url.scheme}://{url.netloc.lower()}"
