"""Acting on a verdict: the proxy's own answers, and what passes through."""

from __future__ import annotations

from decimal import Decimal

import pytest

from proxy.config.policy import Policy
from proxy.config.reservation import Reservation
from proxy.decision.act import Answer, Buckets, PassThrough, answer
from proxy.evidence.ledger import Total, ledger_entry, totals
from proxy.licensing.tokens import LicenceResult
from proxy.model import Action, Agent, Classification, Identity, Purpose, RequestInfo, Verdict
from proxy.prices import Price

POLICY = Policy(
    "Label",
    Reservation(licence="https://label.example/licence", contact="mailto:rights@label.example"),
    (),
    Verdict(Action.ALLOW, "default"),
)
BOT = Agent("SearchBot", "Op", Purpose.AI_SEARCH, ("SearchBot",), ("SearchBot",), "https://x")
REQUEST = RequestInfo("GET", "label.example", "/music/", "SearchBot/1", "203.0.113.1")
PRICE = Price("USD", Decimal("0.01"))


def _act(
    verdict: Verdict,
    identity: Identity = Identity.VERIFIED,
    headers: dict[str, str] | None = None,
    check: LicenceResult | None = None,
    buckets: Buckets | None = None,
    request: RequestInfo = REQUEST,
) -> Answer | PassThrough:
    found = Classification(BOT, identity)
    return answer(POLICY, verdict, request, found, (headers or {}).get, check, buckets or Buckets())


def test_block_is_403() -> None:
    result = _act(Verdict(Action.BLOCK, "no"))
    assert isinstance(result, Answer)
    assert (result.status, result.outcome) == (403, "blocked")


@pytest.mark.parametrize(
    ("check", "error"),
    [
        (None, "invalid_request"),
        (LicenceResult(False, "Acme", "t1", "expired", "the licence expired"), "expired"),
    ],
)
def test_licence_required_is_401_with_the_reason(check: LicenceResult | None, error: str) -> None:
    result = _act(Verdict(Action.LICENCE, "licensed"), check=check)
    assert isinstance(result, Answer)
    headers = dict(result.headers)
    assert result.status == 401
    assert headers["www-authenticate"].startswith(f'License error="{error}"')
    assert (
        headers["link"]
        == '<https://label.example/licence>; rel="license"; type="application/rsl+xml"'
    )
    assert b"Terms: https://label.example/licence" in result.body
    assert b"Contact: rights@label.example" in result.body


@pytest.mark.parametrize(
    ("identity", "headers", "status", "outcome"),
    [
        (Identity.VERIFIED, {}, 402, "payment-required"),
        (Identity.VERIFIED, {"crawler-max-price": "USD 0.001"}, 402, "payment-required"),
        (Identity.VERIFIED, {"crawler-max-price": "cheap"}, 400, "bad-price-headers"),
        (Identity.CLAIMED, {"crawler-max-price": "USD 1"}, 403, "not-chargeable"),
    ],
)
def test_charge_refusals(
    identity: Identity, headers: dict[str, str], status: int, outcome: str
) -> None:
    result = _act(Verdict(Action.CHARGE, "pay", price=PRICE), identity, headers)
    assert isinstance(result, Answer)
    assert (result.status, result.outcome) == (status, outcome)
    if status != 403:  # an unverified crawler is not offered a price
        assert dict(result.headers)["crawler-price"] == "USD 0.01"


def test_accepted_price_passes_through_charged() -> None:
    result = _act(
        Verdict(Action.CHARGE, "pay", price=PRICE), headers={"crawler-max-price": "USD 1"}
    )
    assert result == PassThrough("charged", PRICE)


def test_throttle_per_agent_and_per_client() -> None:
    buckets = Buckets()
    per_agent = Verdict(Action.THROTTLE, "slow", rate=(0.001, 1))
    assert isinstance(_act(per_agent, buckets=buckets), PassThrough)
    refused = _act(per_agent, buckets=buckets)
    assert isinstance(refused, Answer)
    assert refused.status == 429
    assert int(dict(refused.headers)["retry-after"]) >= 1
    per_client = Verdict(Action.THROTTLE, "slow2", rate=(0.001, 1), per_client=True)
    other = RequestInfo("GET", "label.example", "/", "SearchBot/1", "203.0.113.2")
    assert isinstance(_act(per_client, buckets=buckets), PassThrough)
    assert isinstance(_act(per_client, buckets=buckets, request=other), PassThrough)


THROTTLED = Verdict(Action.THROTTLE, "slow", rate=(0.001, 1))


def _refused(verdict: Verdict, headers: dict[str, str], accept: str = "*/*") -> Answer:
    buckets = Buckets()
    request = RequestInfo("GET", "label.example", "/music/", "SearchBot/1", "203.0.113.1", accept)
    _act(THROTTLED, buckets=buckets, request=request)  # the bucket is empty from now on
    result = _act(verdict, headers=headers, buckets=buckets, request=request)
    assert isinstance(result, Answer)
    return result


@pytest.mark.parametrize(
    ("verdict", "headers", "status", "outcome", "why"),
    [
        (
            Verdict(Action.LICENCE, "licensed"),
            {},
            401,
            "licence-required",
            "This content is available to licensed crawlers only. "
            "(a licence is required for this content; rule licensed)",
        ),
        (
            Verdict(Action.CHARGE, "pay", price=PRICE),
            {},
            402,
            "payment-required",
            "Crawling this content is charged per request. "
            "(price USD 0.01; MissingCrawlerPrice; rule pay)",
        ),
        (
            Verdict(Action.CHARGE, "pay", price=PRICE),
            {"crawler-max-price": "cheap"},
            400,
            "bad-price-headers",
            "The crawler's price headers could not be used. "
            "(price USD 0.01; InvalidCrawlerPriceValue; rule pay)",
        ),
        (
            THROTTLED,
            {},
            429,
            "throttled",
            "This crawler is over the rate the site allows. (retry after 1000 s; rule slow)",
        ),
    ],
)
def test_each_refusal_says_what_and_why(
    verdict: Verdict, headers: dict[str, str], status: int, outcome: str, why: str
) -> None:
    result = _refused(verdict, headers)
    assert (result.status, result.outcome) == (status, outcome)
    assert result.headers[-1] == ("content-type", "text/plain; charset=utf-8")
    lines = result.body.decode().splitlines()
    assert lines[1:] == [
        why,
        "Terms: https://label.example/licence",
        "Contact: rights@label.example",
    ]
    html = _refused(verdict, headers, accept="text/html")
    assert dict(html.headers)["content-type"] == "text/html; charset=utf-8"
    assert html.body.startswith(b'<!doctype html><html lang="en"><head><meta charset="utf-8">')
    assert f"<title>{status} ".encode() in html.body
    assert why.replace("'", "&#x27;").encode() in html.body


def test_throttle_keys_agent_or_agent_and_client() -> None:
    buckets = Buckets()
    nobody = Classification(None, Identity.NONE)
    other_ip = RequestInfo("GET", "label.example", "/", "x", "203.0.113.9")
    rate = (0.001, 1)
    for per_client, second in ((False, False), (True, True)):
        verdict = Verdict(Action.THROTTLE, f"r{per_client}", rate=rate, per_client=per_client)
        first = answer(POLICY, verdict, REQUEST, nobody, {}.get, None, buckets)
        again = answer(POLICY, verdict, other_ip, nobody, {}.get, None, buckets)
        assert isinstance(first, PassThrough)
        assert isinstance(again, PassThrough) is second  # another client, its own bucket?
    # rule rFalse has no token left for requests without an agent; an agent has its own
    claimed = Classification(BOT, Identity.CLAIMED)
    verdict = Verdict(Action.THROTTLE, "rFalse", rate=rate)
    assert isinstance(answer(POLICY, verdict, REQUEST, nobody, {}.get, None, buckets), Answer)
    assert isinstance(answer(POLICY, verdict, REQUEST, claimed, {}.get, None, buckets), PassThrough)


def test_allow_and_licensed_pass_through() -> None:
    assert _act(Verdict(Action.ALLOW, "default")) == PassThrough("allowed")
    assert _act(Verdict(Action.ALLOW, "licence", licensee="Acme")) == PassThrough("licensed")


def test_ledger_totals_per_agent_month_and_currency() -> None:
    found = Classification(BOT, Identity.VERIFIED)
    entries = [
        ledger_entry(1_764_000_000, REQUEST, found, "pay", PRICE),  # 2025-11
        ledger_entry(1_764_000_100, REQUEST, found, "pay", PRICE),
        ledger_entry(1_767_000_000, REQUEST, found, "pay", Price("EUR", Decimal("0.02"))),
        {"event": {"action": "log-gap"}},
    ]
    assert totals(entries) == [
        Total("SearchBot", "2025-11", "USD", 2, Decimal("0.02")),
        Total("SearchBot", "2025-12", "EUR", 1, Decimal("0.02")),
    ]
