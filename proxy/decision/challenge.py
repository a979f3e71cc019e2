"""The `challenge` action: a browser proves it runs a real engine, once per network.

A challenged page request gets the challenge page (proxy.decision.challengepage):
a signed token the browser's Web Worker solves (SHA-256 of token + nonce with
`difficulty` leading zero bits) and sends to ANSWER_PATH, which the proxy always
answers itself. A right answer gets a cookie, signed with the key of the period
(proxy.decision.challengestore), bound to the client's network (/24, /48 by
default), a hash of its user agent, the difficulty it paid and an expiry; while it
holds, the client's requests (its page, audio, images) pass. The no-JavaScript
path, where a rule offers it, is the same token sent after a delay instead of work.

Tokens and cookies carry their bindings in clear and an HMAC over all of them, so
a refusal can say why (another network, another agent, forged) and the MAC is
checked first, in constant time. Issuing needs no state; each answer is spent once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from proxy.decision.challengestore import KeyStore, MemoryKeys, SpentAnswers, SpentStore
from proxy.model import ChallengeSpec, RequestInfo

ANSWER_PATH = "/.well-known/optout-challenge"
COOKIE = "optout_pass"
WINDOW = 15 * 60  # seconds a challenge can be answered in
_SEP = "~"  # in neither base64url, digits nor rule names
_MAX_COOKIES = 4  # values of our cookie checked per request: each costs an HMAC
_MAX_NEXT = 2048
_MEDIA = frozenset({"audio", "video", "image", "track", "font", "script", "style"})

Header = Callable[[str], str | None]


@dataclass(slots=True)
class Challenges:
    """The state challenges keep: signing keys and spent answers."""

    keys: KeyStore = field(default_factory=MemoryKeys)
    spent: SpentStore = field(default_factory=SpentAnswers)


@dataclass(frozen=True, slots=True)
class Issued:
    token: str
    id: str
    difficulty: int
    nojs_delay: int | None


@dataclass(frozen=True, slots=True)
class Check:
    """The result of checking a cookie or an answer: `reason` says why it failed."""

    ok: bool
    reason: str
    cookie: str = ""  # a passed answer: the Set-Cookie value
    rule: str = ""  # the rule an answer's challenge was issued by
    id: str = ""  # that challenge's id
    next: str = "/"  # where an answer sends the client on


def network(client_ip: str, ipv4_prefix: int, ipv6_prefix: int) -> str:
    """The client's network at the rule's width ("203.0.113.0/24"); "-" without an address."""
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return "-"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    bits = ipv4_prefix if address.version == 4 else ipv6_prefix
    return str(ipaddress.ip_network((address, bits), strict=False))


def _tag(text: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()[:9]).decode()


def _mac(key: bytes, fields: list[str]) -> str:
    digest = hmac.new(key, _SEP.join(fields).encode(), hashlib.sha256).digest()[:18]
    return base64.urlsafe_b64encode(digest).decode()


def _signed(keys: KeyStore, now: float, fields: list[str]) -> str:
    key_id, key = keys.signing_key(now)
    body = [*fields, key_id]
    return _SEP.join([*body, _mac(key, body)])


def _verified(keys: KeyStore, value: str, count: int, now: float) -> tuple[list[str], str]:
    """The fields of a signed value, or [] and why not."""
    fields = value.split(_SEP)
    if len(fields) != count or len(value) > 512:
        return [], "malformed"
    key = keys.key(fields[-2], now)
    if key is None:
        return [], "unknown-key"
    if not hmac.compare_digest(_mac(key, fields[:-1]).encode(), fields[-1].encode()):
        return [], "forged"
    return fields[:-2], ""


def issue(
    keys: KeyStore, spec: ChallengeSpec, rule: str, request: RequestInfo, now: float
) -> Issued:
    """A new challenge for `request` under `rule`."""
    ident = secrets.token_hex(8)
    net = network(request.client_ip, spec.ipv4_prefix, spec.ipv6_prefix)
    delay = spec.nojs_delay or 0
    fields = ["c1", rule, ident, str(int(now)), str(spec.difficulty), str(spec.ttl)]
    fields += [str(spec.ipv4_prefix), str(spec.ipv6_prefix), str(delay)]
    fields += [_tag(net), _tag(request.user_agent)]
    return Issued(_signed(keys, now, fields), ident, spec.difficulty, spec.nojs_delay)


def leading_zero_bits(digest: bytes) -> int:
    value = int.from_bytes(digest, "big")
    return len(digest) * 8 - value.bit_length()


def solves(token: str, nonce: str, difficulty: int) -> bool:
    """Whether SHA-256(token + nonce) starts with `difficulty` zero bits."""
    digest = hashlib.sha256((token + nonce).encode()).digest()
    return leading_zero_bits(digest) >= difficulty


def solve(token: str, difficulty: int) -> str:
    """The first nonce that solves `token`: what the page's worker computes (bench, tests)."""
    n = 0
    while not solves(token, str(n), difficulty):
        n += 1
    return str(n)


def check_answer(challenges: Challenges, request: RequestInfo, query: str, now: float) -> Check:
    """Check an answer sent to ANSWER_PATH (`t` token, `n` nonce, `next` path)."""
    try:
        params = parse_qs(query, max_num_fields=8)
    except ValueError:  # more fields than an answer has
        return Check(False, "answer-malformed")
    token, nonce = _one(params, "t"), _one(params, "n")
    back = _one(params, "next")
    back = back if _is_local(back) else "/"
    fields, reason = _verified(challenges.keys, token, 13, now)
    if not fields or fields[0] != "c1":
        return Check(False, f"answer-{reason or 'malformed'}", next=back)
    _, rule, ident, issued, difficulty, ttl, v4, v6, delay, net, agent = fields
    failed = _answer_failure(fields, request, nonce, token, now)
    if failed:
        return Check(False, failed, rule=rule, id=ident, next=back)
    if not challenges.spent.spend(ident, int(issued) + WINDOW, now):
        return Check(False, "answer-replayed", rule=rule, id=ident, next=back)
    paid = "0" if nonce == "" else difficulty
    cookie_fields = ["p1", str(int(now) + int(ttl)), paid, v4, v6, net, agent]
    cookie = _signed(challenges.keys, now, cookie_fields)
    return Check(True, "nojs" if paid == "0" else "solved", cookie, rule, ident, back)


def _answer_failure(
    fields: list[str], request: RequestInfo, nonce: str, token: str, now: float
) -> str:
    _, _, _, issued, difficulty, _, v4, v6, delay, net, agent = fields
    age = now - int(issued)
    if age > WINDOW:
        return "answer-expired"
    if age < -5:  # signed by us in the future: a clock step; refuse rather than trust
        return "answer-malformed"
    if _tag(network(request.client_ip, int(v4), int(v6))) != net:
        return "answer-other-network"
    if _tag(request.user_agent) != agent:
        return "answer-other-agent"
    if nonce == "":
        if delay == "0":
            return "answer-nojs-not-offered"
        return "answer-too-early" if age < int(delay) else ""
    if len(nonce) > 20 or not nonce.isdigit():
        return "answer-malformed"
    return "" if solves(token, nonce, int(difficulty)) else "answer-wrong"


def check_cookie(
    keys: KeyStore, spec: ChallengeSpec, request: RequestInfo, cookie_header: str | None, now: float
) -> Check:
    """Whether the request carries a cookie that passes `spec`; else why not ("none")."""
    values = _cookie_values(cookie_header)
    if not values:
        return Check(False, "none")
    first = Check(False, "none")
    for value in values:
        result = _one_cookie(keys, spec, request, value, now)
        if result.ok:
            return result
        if first.reason == "none":
            first = result
    return first


def _one_cookie(
    keys: KeyStore, spec: ChallengeSpec, request: RequestInfo, value: str, now: float
) -> Check:
    fields, reason = _verified(keys, value, 9, now)
    if not fields or fields[0] != "p1":
        return Check(False, f"cookie-{reason or 'malformed'}")
    _, expires, paid, v4, v6, net, agent = fields
    if int(expires) < now:
        return Check(False, "cookie-expired")
    weaker = int(v4) < spec.ipv4_prefix or int(v6) < spec.ipv6_prefix
    if paid == "0":
        weaker = weaker or spec.nojs_delay is None
    if weaker or (paid != "0" and int(paid) < spec.difficulty):
        return Check(False, "cookie-other-rule")
    if _tag(network(request.client_ip, int(v4), int(v6))) != net:
        return Check(False, "cookie-other-network")
    if _tag(request.user_agent) != agent:
        return Check(False, "cookie-other-agent")
    return Check(True, "cookie")


def _cookie_values(header: str | None) -> list[str]:
    if not header:
        return []
    values = []
    for part in header.replace(",", ";").split(";"):
        name, eq, value = part.strip().partition("=")
        if eq and name == COOKIE:
            values.append(value.strip().strip('"'))
    return values[:_MAX_COOKIES]


def set_cookie(value: str, max_age: int, secure: bool) -> str:
    attributes = f"{COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax"
    return attributes + ("; Secure" if secure else "")


def can_show_page(request: RequestInfo, header: Header) -> bool:
    """A navigation a browser can show the page for: GET, HTML accepted, not media, no range."""
    dest = (header("sec-fetch-dest") or "").lower()
    return (
        request.method == "GET"
        and "text/html" in request.accept.lower()
        and header("range") is None
        and dest not in _MEDIA
    )


def _one(params: dict[str, list[str]], name: str) -> str:
    values = params.get(name, [])
    return values[0] if len(values) == 1 else ""


def _is_local(path: str) -> bool:
    """A path on this site, safe in a Location header: no scheme, host, control or space."""
    return (
        path.startswith("/")
        and not path.startswith(("//", "/\\"))
        and len(path) <= _MAX_NEXT
        and all(33 <= ord(c) < 127 for c in path)
    )
