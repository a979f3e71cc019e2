"""Pay per crawl: the HTTP 402 price negotiation, in the published (Cloudflare) convention.

The proxy offers a price with `402` + `crawler-price: USD 0.01`. The crawler retries
with `crawler-exact-price` (must equal the price) or `crawler-max-price` (must be at
least the price) and is let through with `crawler-charged`. A refusal names its reason
in `crawler-error`. Codes and statuses follow Cloudflare's published error table
(developers.cloudflare.com/ai-crawl-control/.../pay-per-crawl/.../error-codes/):

    no price header                   402  MissingCrawlerPrice       + crawler-price
    price header, crawler unverified  403  CrawlerForbidden
    both price headers                400  ConflictingPriceHeaders   + crawler-price
    a price header is malformed       400  InvalidCrawlerPriceValue  + crawler-price
    exact price is not the price      402  InvalidCrawlerExactPrice  + crawler-price
    max price below the price         402  InvalidCrawlerMaxPrice    + crawler-price
    exact or max price accepted       200  crawler-charged: <the price>

Choices where the convention says nothing: a price in another currency cannot be
compared, so it is treated as not matching (InvalidCrawlerExactPrice/MaxPrice). Only a
verified crawler is charged, because a charge must be attributable to whoever pays;
an unverified one still gets the 402 offer, but 403 once it tries to pay. Currency
codes on the wire are accepted in either case. A 400 carries `crawler-price` so the
crawler can correct itself; a 403 offers nothing. `PaymentFailed` (403) is for the
caller, when recording a charge fails (`payment_failed`). Cloudflare bills only for
successful answers; whether an upstream error still counts is the caller's choice.

Prices from our configuration are strict (ValueError); price headers are wire input
and never raise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from proxy.prices import Price, format_price
from proxy.requestheaders import HeaderSource, getter

PRICE = "crawler-price"
EXACT = "crawler-exact-price"
MAX = "crawler-max-price"
CHARGED = "crawler-charged"
ERROR = "crawler-error"

CRAWLER_FORBIDDEN = "CrawlerForbidden"
MISSING_CRAWLER_PRICE = "MissingCrawlerPrice"
INVALID_CRAWLER_PRICE_VALUE = "InvalidCrawlerPriceValue"
INVALID_CRAWLER_EXACT_PRICE = "InvalidCrawlerExactPrice"
INVALID_CRAWLER_MAX_PRICE = "InvalidCrawlerMaxPrice"
CONFLICTING_PRICE_HEADERS = "ConflictingPriceHeaders"
PAYMENT_FAILED = "PaymentFailed"

_WIRE = re.compile(r"([A-Za-z]{3})[ \t]+([0-9]{1,15}(?:\.[0-9]{1,18})?)")

"""Request headers: a mapping (looked up case-insensitively) or a `get(lowercase_name)`."""


@dataclass(frozen=True, slots=True)
class ChargeOutcome:
    """What to answer: 200 lets the request through with `headers` added to the response."""

    status: int
    headers: tuple[tuple[str, str], ...]
    charged: Price | None = None
    error: str | None = None


def evaluate(price: Price, headers: HeaderSource, *, verified: bool) -> ChargeOutcome:
    """Decide a charged request from its price headers (see the module docstring)."""
    get = getter(headers)
    exact, most = get(EXACT), get(MAX)
    if exact is None and most is None:
        return _refuse(402, MISSING_CRAWLER_PRICE, price)
    if not verified:
        return _refuse(403, CRAWLER_FORBIDDEN)
    if exact is not None and most is not None:
        return _refuse(400, CONFLICTING_PRICE_HEADERS, price)
    offered = _wire_price(exact if exact is not None else most)
    if offered is None:
        return _refuse(400, INVALID_CRAWLER_PRICE_VALUE, price)
    if offered.currency != price.currency:
        accepted = False
    elif exact is not None:
        accepted = offered.amount == price.amount
    else:
        accepted = offered.amount >= price.amount
    if not accepted:
        code = INVALID_CRAWLER_EXACT_PRICE if exact is not None else INVALID_CRAWLER_MAX_PRICE
        return _refuse(402, code, price)
    return ChargeOutcome(200, ((CHARGED, format_price(price)),), charged=price)


def payment_failed() -> ChargeOutcome:
    """The answer when a charge was accepted but could not be recorded."""
    return _refuse(403, PAYMENT_FAILED)


def _refuse(status: int, error: str, price: Price | None = None) -> ChargeOutcome:
    offer = ((PRICE, format_price(price)),) if price is not None else ()
    return ChargeOutcome(status, (*offer, (ERROR, error)), error=error)


def _wire_price(value: str | None) -> Price | None:
    match = _WIRE.fullmatch(value.strip(" \t")) if value is not None else None
    if match is None:
        return None
    return Price(match.group(1).upper(), Decimal(match.group(2)))
