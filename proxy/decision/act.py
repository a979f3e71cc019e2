"""Act on a verdict the proxy answers itself: block, licence, charge, throttle.

The engine adapter calls `answer()` with the verdict, the request's headers and
the state it keeps across requests (throttle buckets); it gets back either None
(let the request through, perhaps charged) or the status, headers and body the
proxy answers with. Headers from a policy or a price are checked when the rules
load, so nothing a client sends ends up unescaped in a header.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Protocol

from proxy.config.policy import Policy
from proxy.decision import blockpage, paycrawl
from proxy.decision.throttle import Throttle
from proxy.licensing import tokens as licence
from proxy.licensing.tokens import LicenceResult
from proxy.model import Action, Classification, Identity, RequestInfo, Verdict
from proxy.prices import Price, format_price

_CHARGE_OUTCOMES = {402: "payment-required", 400: "bad-price-headers", 403: "not-chargeable"}


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    outcome: str  # for the log: "blocked", "licence-required", "payment-required", ...
    reference: str = ""  # the request id the page quotes, for the record's http.request.id
    detail: tuple[tuple[str, str], ...] = ()  # optout.challenge fields for the record


@dataclass(frozen=True, slots=True)
class PassThrough:
    """The request goes to the upstream; `charged` is the price it pays, if any."""

    outcome: str
    charged: Price | None = None
    detail: tuple[tuple[str, str], ...] = ()  # optout.challenge fields for the record


class TokenBuckets(Protocol):
    def take(self, rule: str, rate: tuple[float, int], key: Hashable) -> tuple[bool, int]: ...


@dataclass(slots=True)
class Deferred:
    """Lets the request through and keeps what it would take, for a caller that takes the
    token itself from a shared store (proxy.store.shared) and then applies `throttled`."""

    asked: tuple[str, tuple[float, int], Hashable] | None = None

    def take(self, rule: str, rate: tuple[float, int], key: Hashable) -> tuple[bool, int]:
        self.asked = (rule, rate, key)
        return True, 0


@dataclass(slots=True)
class Buckets:
    """Throttle state per rule, kept across requests and reloads of unchanged rules."""

    by_rule: dict[tuple[str, tuple[float, int]], Throttle] = field(default_factory=dict)

    def take(self, rule: str, rate: tuple[float, int], key: Hashable) -> tuple[bool, int]:
        throttle = self.by_rule.get((rule, rate))
        if throttle is None:
            throttle = self.by_rule[(rule, rate)] = Throttle(*rate)
        result = throttle.take(key)
        return result.allowed, result.retry_after


def answer(
    policy: Policy,
    verdict: Verdict,
    request: RequestInfo,
    found: Classification,
    header: Callable[[str], str | None],
    licence_check: LicenceResult | None,
    buckets: TokenBuckets,
) -> Answer | PassThrough:
    want_html = blockpage.wants_html(request.accept)
    if verdict.action is Action.BLOCK:
        ref = blockpage.reference()
        body, content_type = blockpage.render(policy, verdict.rule, found, want_html, ref)
        return Answer(403, (("content-type", content_type),), body, "blocked", ref)
    if verdict.action is Action.LICENCE:
        return _licence_required(policy, verdict, licence_check, want_html)
    if verdict.action is Action.CHARGE and verdict.price is not None:
        return _charge(policy, verdict, verdict.price, found, header, want_html)
    if verdict.action is Action.THROTTLE and verdict.rate is not None:
        key = _throttle_key(verdict, request, found)
        allowed, retry_after = buckets.take(verdict.rule, verdict.rate, key)
        return (
            PassThrough("allowed")
            if allowed
            else throttled(policy, verdict, retry_after, want_html)
        )
    return PassThrough("licensed" if verdict.licensee else "allowed")


def _licence_required(
    policy: Policy, verdict: Verdict, check: LicenceResult | None, want_html: bool
) -> Answer:
    refused = check or LicenceResult(
        False, error=licence.INVALID_REQUEST, description="a licence is required for this content"
    )
    error = refused.error or licence.INVALID_TOKEN
    headers = [("www-authenticate", licence.challenge(error, refused.description))]
    body, content_type = blockpage.render_refusal(
        policy, 401, verdict.rule, refused.description or error, want_html
    )
    return Answer(
        401,
        (*headers, *_licence_link(policy), ("content-type", content_type)),
        body,
        "licence-required",
    )


def _charge(
    policy: Policy,
    verdict: Verdict,
    price: Price,
    found: Classification,
    header: Callable[[str], str | None],
    want_html: bool,
) -> Answer | PassThrough:
    outcome = paycrawl.evaluate(price, header, verified=found.identity is Identity.VERIFIED)
    if outcome.charged is not None:
        return PassThrough("charged", outcome.charged)
    detail = f"price {format_price(price)}; {outcome.error}"
    body, content_type = blockpage.render_refusal(
        policy, outcome.status, verdict.rule, detail, want_html
    )
    headers = (*outcome.headers, *_licence_link(policy), ("content-type", content_type))
    return Answer(outcome.status, headers, body, _CHARGE_OUTCOMES.get(outcome.status, "refused"))


def _throttle_key(verdict: Verdict, request: RequestInfo, found: Classification) -> Hashable:
    agent = found.agent.name if found.agent else "(no agent)"
    return (agent, request.client_ip) if verdict.per_client else agent


def throttled(policy: Policy, verdict: Verdict, retry_after: int, want_html: bool) -> Answer:
    detail = f"retry after {retry_after} s"
    body, content_type = blockpage.render_refusal(policy, 429, verdict.rule, detail, want_html)
    headers = (("retry-after", str(retry_after)), ("content-type", content_type))
    return Answer(429, headers, body, "throttled")


def _licence_link(policy: Policy) -> tuple[tuple[str, str], ...]:
    url = policy.reservation.licence
    return (("link", f'<{url}>; rel="license"; type="application/rsl+xml"'),) if url else ()
