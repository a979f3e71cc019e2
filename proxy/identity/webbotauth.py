"""Web Bot Auth: check the HTTP Message Signature (RFC 9421) a crawler puts on a request.

A user agent is only a claim. A Web Bot Auth signature proves the request comes from
whoever holds a key the agent publishes at its `Signature-Agent` origin. This module is
the pure part: it reads `Signature-Input`, `Signature` and `Signature-Agent`, rebuilds
the signature base and checks the parameters and the Ed25519 signature. Fetching the key
directory is `proxy.net.keydir`'s job; the caller passes the keys in.

Wire input never raises: a malformed header becomes a `WbaResult` with a reason.
Nonces are not tracked, so a signature can be replayed until it expires.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import http_sf
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from proxy.requestheaders import HeaderSource, getter

TAG = "web-bot-auth"
DEFAULT_SKEW = 60.0
MAX_KEYS = 32
MAX_REASON = 200
AGENT_TYPES = frozenset({"directory", "jwks_uri", "cimd"})
COVERAGE = "signature must cover @authority or @target-uri and signature-agent"

"""Request headers: a mapping (looked up case-insensitively) or a `get(lowercase_name)`."""


class _Reject(ValueError):
    """Internal: the request cannot verify; the message is the reason we report."""


@dataclass(frozen=True, slots=True)
class Target:
    """The request parts a signature can cover, as the client sent them."""

    method: str
    scheme: str
    authority: str
    target: str  # the request target in origin form: path and query


@dataclass(frozen=True, slots=True)
class Component:
    """One covered component, e.g. `"signature-agent";key="agent2"`."""

    ident: str  # its sf serialisation, the left-hand side of its signature base line
    name: str
    key: str | None = None
    unsupported: str | None = None  # a parameter we cannot honour (sf, bs, req, tr, name)


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """A request carrying a signature; `problem` says why it cannot verify, if known yet."""

    target: Target
    problem: str | None = None
    label: str = ""
    components: tuple[Component, ...] = ()
    params: str = ""  # the serialised @signature-params value
    created: int | None = None
    expires: int | None = None
    keyid: str | None = None
    alg: str | None = None
    signature: bytes = b""
    fields: tuple[tuple[str, str | None], ...] = ()  # covered header fields, lowercase name
    agent: str | None = None  # the Signature-Agent URL the signature covers
    agent_type: str = "directory"


@dataclass(frozen=True, slots=True)
class WbaResult:
    """The outcome; `reason` is "verified" or why not, for the access log."""

    ok: bool
    agent: str | None
    keyid: str | None
    reason: str


def _sf(value: str, tltype: str) -> Any:
    try:
        return http_sf.parse(value.encode("utf-8", "surrogateescape"), tltype=tltype)
    except (ValueError, TypeError) as e:  # StructuredFieldError, UnicodeError
        raise _Reject(f"malformed structured field: {e}") from None


def parse_request(
    headers: HeaderSource, method: str, authority: str, path: str, scheme: str = "https"
) -> SignedRequest | None:
    """Read the Web Bot Auth signature of a request; None if it carries no signature."""
    get = getter(headers)
    sig_input, sig = get("signature-input"), get("signature")
    target = Target(method, scheme.lower(), authority, path)
    if sig_input is None and sig is None:
        return None
    try:
        return _parse(target, get, sig_input, sig)
    except _Reject as e:  # the reason may quote wire input: keep log lines bounded
        return SignedRequest(target, problem=str(e)[:MAX_REASON])


def _parse(
    target: Target, get: Callable[[str], str | None], sig_input: str | None, sig: str | None
) -> SignedRequest:
    if sig_input is None or sig is None:
        raise _Reject("missing Signature-Input or Signature header")
    label, items, params = _choose(_sf(sig_input, "dictionary"))
    member = _sf(sig, "dictionary").get(label)
    if not (isinstance(member, tuple) and isinstance(member[0], bytes)):
        raise _Reject(f"no Signature for label {label}")
    components = tuple(_component(item) for item in items)
    if len({c.ident for c in components}) != len(components):
        raise _Reject("duplicate covered component")
    fields = tuple((c.name, get(c.name)) for c in components if not c.name.startswith("@"))
    agent, agent_type = _agent(components, dict(fields))
    return SignedRequest(
        target,
        label=label,
        components=components,
        params=http_sf.ser({label: (items, params)}).removeprefix(f"{label}="),
        created=_param(params, "created", int),
        expires=_param(params, "expires", int),
        keyid=_param(params, "keyid", str),
        alg=_param(params, "alg", str),
        signature=member[0],
        fields=fields,
        agent=agent,
        agent_type=agent_type,
    )


def _choose(inputs: dict[str, Any]) -> tuple[str, list[Any], dict[str, Any]]:
    """The first signature tagged web-bot-auth; the others are for someone else."""
    for label, member in inputs.items():
        if isinstance(member, tuple) and isinstance(member[0], list):
            if member[1].get("tag") == TAG:
                return label, member[0], member[1]
    raise _Reject("no web-bot-auth signature")


def _param(params: dict[str, Any], name: str, kind: type[int] | type[str]) -> Any:
    value = params.get(name)
    if value is not None and type(value) is not kind:
        raise _Reject(f"signature parameter {name} is not {kind.__name__}")
    return value


def _component(item: Any) -> Component:
    name, params = item if isinstance(item, tuple) else (None, {})
    if not isinstance(name, str) or not name or name != name.lower():
        raise _Reject("malformed component identifier")
    key = params.get("key")
    if key is not None and not isinstance(key, str):
        raise _Reject(f"malformed key parameter on {name}")
    extra = sorted(set(params) - {"key"})
    return Component(http_sf.ser(item), name, key, extra[0] if extra else None)


def _agent(components: tuple[Component, ...], fields: dict[str, str | None]) -> tuple[str, str]:
    """The agent URL whose keys must verify: the Signature-Agent member the signature covers."""
    covering = [c for c in components if c.name == "signature-agent"]
    if not covering:
        raise _Reject(COVERAGE)
    raw = fields["signature-agent"]
    if raw is None:
        raise _Reject("missing covered field signature-agent")
    key = covering[0].key
    member = _legacy_agent(raw) if key is None else _sf(raw, "dictionary").get(key)
    if not (isinstance(member, tuple) and isinstance(member[0], str)):
        raise _Reject(f"Signature-Agent has no string member {key}")
    kind = str(member[1].get("type", "directory"))
    if kind not in AGENT_TYPES:
        raise _Reject(f"unknown Signature-Agent type {kind}")
    return _https_url(member[0], origin=kind == "directory"), kind


def _legacy_agent(raw: str) -> Any:
    """A bare sf-string (older drafts), or a dictionary with a single member."""
    try:
        return _sf(raw, "item")
    except _Reject:
        members = list(_sf(raw, "dictionary").values())
    if len(members) != 1:
        raise _Reject("Signature-Agent has several members; the signature must pick one by key")
    return members[0]


def _https_url(url: str, *, origin: bool) -> str:
    try:
        parts = urlsplit(url)
        port_ok = parts.port != 0
    except ValueError:
        raise _Reject(f"Signature-Agent {url!r} is not a URL") from None
    if parts.scheme != "https" or not parts.hostname or "@" in parts.netloc or not port_ok:
        raise _Reject(f"Signature-Agent {url!r} is not an https URL")
    if not re.fullmatch(r"[!-~]+", url):
        raise _Reject(f"Signature-Agent {url!r} has spaces or non-ASCII characters")
    if origin and (parts.path not in ("", "/") or parts.query or parts.fragment):
        raise _Reject(f"Signature-Agent {url!r} is not an https origin")
    return f"https://{parts.netloc.lower()}" if origin else url


def signature_base(signed: SignedRequest) -> bytes:
    """The bytes the agent signed (RFC 9421 §2.5); ValueError names what cannot be rebuilt."""
    if signed.problem is not None:
        raise ValueError(signed.problem)
    fields = dict(signed.fields)
    lines = [f"{c.ident}: {_value(c, signed.target, fields)}" for c in signed.components]
    lines.append(f'"@signature-params": {signed.params}')
    return "\n".join(lines).encode("utf-8", "surrogateescape")


def _value(c: Component, target: Target, fields: dict[str, str | None]) -> str:
    if c.unsupported is not None:
        raise _Reject(f"unsupported parameter {c.unsupported} on component {c.name}")
    if c.name.startswith("@"):
        value = _derived(c, target)
    elif (raw := fields.get(c.name)) is None:
        raise _Reject(f"missing covered field {c.name}")
    elif c.key is None:
        value = raw.strip()
    else:
        value = _ser_member(c, _sf(raw, "dictionary").get(c.key))
    if "\n" in value or "\r" in value:
        raise _Reject(f"line break in component {c.name}")
    return value


def _ser_member(c: Component, member: Any) -> str:
    if member is None:
        raise _Reject(f"field {c.name} has no member {c.key}")
    if isinstance(member[0], list):  # an inner list: serialise it as a dictionary member
        return http_sf.ser({"k": member}).removeprefix("k=")
    return http_sf.ser(member)


def _derived(c: Component, t: Target) -> str:
    """Derived components (RFC 9421 §2.2) that a request has."""
    path, _, query = t.target.partition("?")
    authority = t.authority.strip().lower()
    default_port = {"https": ":443", "http": ":80"}.get(t.scheme, "")
    if default_port and authority.endswith(default_port):
        authority = authority.removesuffix(default_port)
    values = {
        "@method": t.method,
        "@authority": authority,
        "@scheme": t.scheme,
        "@target-uri": f"{t.scheme}://{authority}{t.target}",
        "@request-target": t.target,
        "@path": path or "/",
        "@query": f"?{query}",
    }
    if c.name not in values or c.key is not None:
        raise _Reject(f"unsupported component {c.ident}")
    return values[c.name]


def precheck(
    signed: SignedRequest,
    now: float,
    *,
    skew: float = DEFAULT_SKEW,
    max_validity: float | None = None,
) -> WbaResult | None:
    """Every check that needs no key; call it first so a stale signature costs no fetch."""
    reason = _precheck_reason(signed, now, skew, max_validity)
    return None if reason is None else _result(signed, False, reason)


def _precheck_reason(
    signed: SignedRequest, now: float, skew: float, max_validity: float | None
) -> str | None:
    created, expires = signed.created, signed.expires
    if signed.problem is not None:
        return signed.problem
    if signed.alg is not None and signed.alg != "ed25519":
        return "alg not ed25519"
    if not {c.name for c in signed.components} & {"@authority", "@target-uri"}:
        return COVERAGE
    if signed.keyid is None or created is None or expires is None:
        return "signature parameters must include keyid, created and expires"
    if created > now + skew:
        return "created in the future"
    if expires < now - skew:
        return "expired"
    if expires < created:
        return "expires before created"
    if max_validity is not None and expires - created > max_validity:
        return f"validity longer than {max_validity:g} s"
    return None


def verify(
    signed: SignedRequest,
    keys: Mapping[str, Ed25519PublicKey],
    now: float,
    *,
    skew: float = DEFAULT_SKEW,
    max_validity: float | None = None,
) -> WbaResult:
    """Verify against the agent's keys (by keyid); `max_validity` caps expires - created."""
    early = precheck(signed, now, skew=skew, max_validity=max_validity)
    if early is not None:
        return early
    key = keys.get(signed.keyid or "")
    if key is None:
        return _result(signed, False, "unknown key")
    try:
        key.verify(signed.signature, signature_base(signed))
    except ValueError as e:
        return _result(signed, False, str(e))
    except InvalidSignature:
        return _result(signed, False, "bad signature")
    return _result(signed, True, "verified")


def _result(signed: SignedRequest, ok: bool, reason: str) -> WbaResult:
    return WbaResult(ok, signed.agent, signed.keyid, reason)


_THUMBPRINT_MEMBERS = {
    "OKP": ("crv", "kty", "x"),
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
}


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The base64url SHA-256 JWK thumbprint (RFC 7638; OKP members per RFC 8037)."""
    members = _THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if members is None or not all(isinstance(jwk.get(m), str) for m in members):
        raise ValueError(f"cannot compute a thumbprint of kty {jwk.get('kty')!r}")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def keys_from_jwks(doc: object, max_keys: int = MAX_KEYS) -> dict[str, Ed25519PublicKey]:
    """The Ed25519 keys of a JWK Set by thumbprint; other key types are skipped.

    Raises ValueError on a malformed set: it is the agent's document, and a broken one
    must not verify anything.
    """
    if not isinstance(doc, Mapping) or not isinstance(doc.get("keys"), list):
        raise ValueError("not a JWK Set: expected an object with a keys array")
    if len(doc["keys"]) > max_keys:
        raise ValueError(f"too many keys: {len(doc['keys'])} > {max_keys}")
    keys = {}
    for i, jwk in enumerate(doc["keys"]):
        if not isinstance(jwk, Mapping):
            raise ValueError(f"key {i} is not an object")
        if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
            keys[jwk_thumbprint(jwk)] = _ed25519(jwk.get("x"), i)
    return keys


def _ed25519(x: object, i: int) -> Ed25519PublicKey:
    if not isinstance(x, str) or not re.fullmatch(r"[A-Za-z0-9_-]{43}", x):
        raise ValueError(f"key {i}: x is not a base64url 32-byte Ed25519 public key")
    return Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(x + "="))
