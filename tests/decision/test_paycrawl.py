"""Pay per crawl: every price-header case, and our price configuration."""

from __future__ import annotations

from decimal import Decimal

import pytest

from proxy.decision.paycrawl import (
    ChargeOutcome,
    evaluate,
    payment_failed,
)
from proxy.prices import Price, format_price, parse_price

PRICE = Price("USD", Decimal("0.01"))
OFFER = ("crawler-price", "USD 0.01")
CHARGED = ChargeOutcome(200, (("crawler-charged", "USD 0.01"),), charged=PRICE)


def refused(status: int, error: str, offer: bool = True) -> ChargeOutcome:
    headers = ((OFFER,) if offer else ()) + (("crawler-error", error),)
    return ChargeOutcome(status, headers, error=error)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, refused(402, "MissingCrawlerPrice")),
        ({"user-agent": "GPTBot"}, refused(402, "MissingCrawlerPrice")),
        ({"crawler-exact-price": "USD 0.01"}, CHARGED),
        ({"crawler-exact-price": "USD 0.010"}, CHARGED),  # numerically equal
        ({"crawler-exact-price": "usd 0.01"}, CHARGED),  # currency in either case
        ({"crawler-exact-price": "  USD \t 0.01  "}, CHARGED),
        ({"Crawler-Exact-Price": "USD 0.01"}, CHARGED),  # header names in any case
        ({"crawler-exact-price": "USD 0.02"}, refused(402, "InvalidCrawlerExactPrice")),
        ({"crawler-exact-price": "USD 0.001"}, refused(402, "InvalidCrawlerExactPrice")),
        ({"crawler-exact-price": "EUR 0.01"}, refused(402, "InvalidCrawlerExactPrice")),
        ({"crawler-max-price": "USD 1"}, CHARGED),  # charged the price, not the max
        ({"crawler-max-price": "USD 0.01"}, CHARGED),
        ({"CRAWLER-MAX-PRICE": "USD 0.0100"}, CHARGED),
        ({"crawler-max-price": "USD 0.009999"}, refused(402, "InvalidCrawlerMaxPrice")),
        ({"crawler-max-price": "USD 0"}, refused(402, "InvalidCrawlerMaxPrice")),
        ({"crawler-max-price": "EUR 5"}, refused(402, "InvalidCrawlerMaxPrice")),
        (
            {"crawler-exact-price": "USD 0.01", "crawler-max-price": "USD 0.01"},
            refused(400, "ConflictingPriceHeaders"),
        ),
        (
            {"crawler-exact-price": "garbage", "crawler-max-price": "USD 0.01"},
            refused(400, "ConflictingPriceHeaders"),
        ),
    ],
)
def test_price_headers(headers: dict[str, str], expected: ChargeOutcome) -> None:
    assert evaluate(PRICE, headers, verified=True) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        " ",
        "0.01",
        "USD",
        "0.01 USD",
        "$0.01",
        "USD 0,01",
        "USD -0.01",
        "USD +0.01",
        "USD .01",
        "USD 1.",
        "USD 1e-2",
        "USD NaN",
        "USD Infinity",
        "US 0.01",
        "USDX 0.01",
        "USD 0.01 0.02",
        "USD 0.01, USD 0.01",
        "USD0.01",
        "USD 1" + "0" * 20,  # too many digits to be a price
        "USD 0." + "1" * 30,
        "USD 0.01\r\nX: y",
        "USD ٠.٠١",  # non-ASCII digits
    ],
)
@pytest.mark.parametrize("name", ["crawler-exact-price", "crawler-max-price"])
def test_malformed_price_header(name: str, value: str) -> None:
    assert evaluate(PRICE, {name: value}, verified=True) == refused(400, "InvalidCrawlerPriceValue")


def test_repeated_header_is_malformed() -> None:
    headers = {"crawler-max-price": "USD 1", "Crawler-Max-Price": "USD 1"}
    assert evaluate(PRICE, headers, verified=True).error == "InvalidCrawlerPriceValue"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, refused(402, "MissingCrawlerPrice")),  # the offer is still made
        ({"crawler-exact-price": "USD 0.01"}, refused(403, "CrawlerForbidden", offer=False)),
        ({"crawler-max-price": "USD 9"}, refused(403, "CrawlerForbidden", offer=False)),
        ({"crawler-max-price": "junk"}, refused(403, "CrawlerForbidden", offer=False)),
        (
            {"crawler-exact-price": "USD 0.01", "crawler-max-price": "USD 1"},
            refused(403, "CrawlerForbidden", offer=False),
        ),
    ],
)
def test_unverified_crawler_cannot_be_charged(
    headers: dict[str, str], expected: ChargeOutcome
) -> None:
    assert evaluate(PRICE, headers, verified=False) == expected


def test_headers_from_a_get_function() -> None:
    headers = {"crawler-max-price": "USD 0.05"}
    assert evaluate(PRICE, headers.get, verified=True) == CHARGED
    assert evaluate(PRICE, lambda name: None, verified=True).status == 402


def test_charged_at_the_configured_price_form() -> None:
    price = Price("EUR", Decimal("1.50"))
    outcome = evaluate(price, {"crawler-max-price": "EUR 2"}, verified=True)
    assert outcome.headers == (("crawler-charged", "EUR 1.50"),)
    assert outcome.charged == price


def test_payment_failed() -> None:
    assert payment_failed() == refused(403, "PaymentFailed", offer=False)


@pytest.mark.parametrize(
    ("text", "price"),
    [
        ("USD 0.01", Price("USD", Decimal("0.01"))),
        ("EUR 2", Price("EUR", Decimal("2"))),
        (" GBP  0.000001 ", Price("GBP", Decimal("0.000001"))),
        ("JPY 100", Price("JPY", Decimal("100"))),
    ],
)
def test_parse_price(text: str, price: Price) -> None:
    assert parse_price(text) == price


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "must be a currency code and an amount"),
        ("0.01", "must be a currency code and an amount"),
        ("usd 0.01", "must be a currency code and an amount"),
        ("US 0.01", "must be a currency code and an amount"),
        ("USD 1e-2", "must be a currency code and an amount"),
        ("USD -1", "must be a currency code and an amount"),
        ("USD 0", "must be more than zero"),
        ("USD 0.000", "must be more than zero"),
        ("USD 0.0000001", "more than 6 decimals"),
        (0.01, "must be a currency code and an amount"),
    ],
)
def test_parse_price_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_price(text)


@pytest.mark.parametrize(
    ("text", "formatted"),
    [("USD 0.01", "USD 0.01"), ("EUR 2", "EUR 2"), ("GBP 0.000001", "GBP 0.000001")],
)
def test_format_price(text: str, formatted: str) -> None:
    assert format_price(parse_price(text)) == formatted
