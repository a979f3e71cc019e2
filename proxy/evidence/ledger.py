"""The charges ledger: one entry per charged request, hash-chained like the access log.

Entries are written by a LogWriter (so they get `event.sequence` and
`optout.chain`, and `optout logs verify` checks the ledger too) to
`<state>/ledger/ledger.jsonl`, with its own chain head beside it. Amounts are
decimal strings, never floats, so totals are exact.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from proxy.model import Classification, RequestInfo
from proxy.prices import Price


def ledger_dir(state: Path) -> Path:
    return state / "ledger"


def ledger_entry(
    started: float, request: RequestInfo, found: Classification, rule: str, price: Price
) -> dict[str, Any]:
    agent = found.agent
    return {
        "@timestamp": datetime.fromtimestamp(started, UTC).isoformat(timespec="milliseconds")[:-6]
        + "Z",
        "event": {"kind": "event", "category": ["web"], "action": "charge"},
        "source": {"ip": request.client_ip},
        "url": {"domain": request.host, "path": request.path},
        "optout": {
            "agent": agent.name if agent else None,
            "operator": agent.operator if agent else None,
            "identity": found.identity.value,
            "rule": rule,
            "price": {"currency": price.currency, "amount": str(price.amount)},
        },
    }


@dataclass(frozen=True, slots=True)
class Total:
    agent: str
    month: str  # YYYY-MM
    currency: str
    requests: int
    amount: Decimal


def totals(entries: Iterable[dict[str, Any]]) -> list[Total]:
    """Totals per agent, month and currency, in that order."""
    counts: dict[tuple[str, str, str], int] = defaultdict(int)
    sums: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    for entry in entries:
        optout = entry.get("optout") or {}
        price = optout.get("price")
        if entry.get("event", {}).get("action") != "charge" or not isinstance(price, dict):
            continue
        key = (
            str(optout.get("agent")),
            str(entry.get("@timestamp", ""))[:7],
            str(price.get("currency")),
        )
        counts[key] += 1
        sums[key] += Decimal(str(price.get("amount", "0")))
    return [Total(*key, counts[key], sums[key]) for key in sorted(counts)]
