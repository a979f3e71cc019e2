"""Prices, as the rules give them ("USD 0.01") and as a charge records them.

A value of the pipeline like those in `proxy.model`: the policy parses prices,
the decision offers them, the log and the ledger record them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

MAX_DECIMALS = 6
_CONFIG = re.compile(r"([A-Z]{3}) +([0-9]+(?:\.[0-9]+)?)")


@dataclass(frozen=True, slots=True)
class Price:
    currency: str  # ISO 4217, upper case
    amount: Decimal


def parse_price(text: str) -> Price:
    """A price from our configuration, like "USD 0.01". Raises ValueError."""
    match = _CONFIG.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"price {text!r} must be a currency code and an amount, such as 'USD 0.01'"
        )
    currency, amount = match.group(1), Decimal(match.group(2))
    if amount <= 0:
        raise ValueError(f"price {text!r} must be more than zero")
    if len(match.group(2).partition(".")[2]) > MAX_DECIMALS:
        raise ValueError(f"price {text!r} has more than {MAX_DECIMALS} decimals")
    return Price(currency, amount)


def format_price(price: Price) -> str:
    return f"{price.currency} {price.amount:f}"
