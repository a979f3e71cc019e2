"""OAuth 2.0 token-endpoint plumbing (RFC 6749): form bodies, client authentication, errors.

Wire input never raises here: a bad request becomes an `Answer` carrying the
RFC 6749 §5.2 error, with `Cache-Control: no-store` as §5.1 asks. The `event`
of an answer is what the licence ledger records; it never holds a secret.
"""

from __future__ import annotations

import base64
import binascii
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from proxy.licensing.clients import Licensee, Registry, authenticate

INVALID_REQUEST = "invalid_request"
INVALID_CLIENT = "invalid_client"
INVALID_GRANT = "invalid_grant"
INVALID_SCOPE = "invalid_scope"
INVALID_TARGET = "invalid_target"
UNSUPPORTED_GRANT_TYPE = "unsupported_grant_type"
MAX_BODY = 64 * 1024
FORM = "application/x-www-form-urlencoded"
NO_STORE: tuple[tuple[str, str], ...] = (("cache-control", "no-store"), ("pragma", "no-cache"))


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    content_type: str | None
    authorization: str | None
    body: bytes


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: tuple[tuple[str, str], ...] = NO_STORE
    event: dict[str, Any] | None = field(default=None)  # for the licence ledger


def error(status: int, code: str, description: str, **event: Any) -> Answer:
    headers = NO_STORE
    if event.pop("basic", False):
        headers = (*headers, ("www-authenticate", 'Basic realm="olp"'))
    body = {"error": code, "error_description": description}
    return Answer(status, body, headers, {"action": "licence-refusal", "error": code, **event})


def parse_form(request: Request) -> dict[str, str] | Answer:
    if request.method != "POST":
        refused = error(405, INVALID_REQUEST, "use POST")
        return Answer(405, refused.body, (*refused.headers, ("allow", "POST")), refused.event)
    media = (request.content_type or "").split(";")[0].strip().lower()
    if media != FORM:
        return error(400, INVALID_REQUEST, f"the body must be {FORM}")
    if len(request.body) > MAX_BODY:
        return error(400, INVALID_REQUEST, "the body is too large")
    try:
        pairs = urllib.parse.parse_qsl(
            request.body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=bool(request.body),
            max_num_fields=32,
        )
    except (UnicodeDecodeError, ValueError):
        return error(400, INVALID_REQUEST, "the body is not a valid form")
    form = dict(pairs)
    if len(form) != len(pairs):
        return error(400, INVALID_REQUEST, "a parameter is repeated")
    return form


def authenticate_client(
    request: Request, form: dict[str, str], registry: Registry
) -> Licensee | Answer:
    """RFC 6749 §2.3.1: HTTP Basic or client_secret_post, never both."""
    basic = basic_credentials(request.authorization)
    posted = form.get("client_id"), form.pop("client_secret", None)
    if basic is not None and posted[1] is not None:
        return error(400, INVALID_REQUEST, "use one client authentication method")
    if isinstance(basic, str):
        return error(401, INVALID_CLIENT, basic, basic=True)
    credentials = basic if basic is not None else posted
    client_id, secret = credentials
    if client_id is None or secret is None:
        return error(401, INVALID_CLIENT, "client authentication is required", basic=True)
    found = authenticate(registry, client_id, secret)
    if found is None:
        event = {"client_id": client_id[:64], "basic": basic is not None}
        return error(401, INVALID_CLIENT, "client authentication failed", **event)
    return found


def basic_credentials(value: str | None) -> tuple[str, str] | str | None:
    scheme, _, rest = (value or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(rest.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "the Basic credentials are malformed"
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        return "the Basic credentials are malformed"
    return urllib.parse.unquote_plus(client_id), urllib.parse.unquote_plus(secret)
