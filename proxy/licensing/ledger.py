"""The licence ledger: every grant, refusal, introspection and revocation, hash-chained.

Entries are written by a LogWriter to `<state>/licences/ledger.jsonl` (chain head
beside it), so `optout logs verify` checks it like the access log. An entry names
the client and the token id (`jti`), never a secret or a token. `summary` joins
the grants with the access log: what each licensee fetched under its licences.
Prices are decimal strings, so totals are exact; the proxy moves no money.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

LEDGER_DIR = Path("licences")
LEDGER_FILE = "ledger.jsonl"
ACTIONS = ("licence-grant", "licence-refusal", "licence-introspection", "licence-revocation")


def ledger_path(state: Path) -> Path:
    return state / LEDGER_DIR / LEDGER_FILE


def entry(now: float, event: dict[str, Any], client_ip: str | None = None) -> dict[str, Any]:
    """A ledger record for one event of proxy.licensing.olp (or a revocation)."""
    stamp = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"
    record: dict[str, Any] = {
        "@timestamp": stamp,
        "event": {"kind": "event", "category": ["iam"], "action": event["action"]},
        "optout": {"licence": {k: v for k, v in event.items() if k != "action"}},
    }
    if client_ip is not None:
        record["source"] = {"ip": client_ip}
    return record


@dataclass
class Holder:
    """One licensee's licences and what it fetched under them."""

    client_id: str
    licensee: str
    since: str = ""  # the first grant's time
    grants: int = 0
    refusals: int = 0
    revoked: bool = False
    usage: set[str] = field(default_factory=set)
    paths: set[str] = field(default_factory=set)
    requests: int = 0  # access-log requests allowed under its licence
    fetched: dict[str, int] = field(default_factory=dict)  # path → requests
    paid: dict[tuple[str, str], Decimal] = field(default_factory=dict)  # (month, currency)


def summary(ledger: Iterable[dict[str, Any]], access: Iterable[dict[str, Any]]) -> list[Holder]:
    """Who holds which licence since when, what they paid per month and fetched."""
    holders: dict[str, Holder] = {}
    for record in ledger:
        _add(holders, record)
    by_name = {h.licensee: h for h in holders.values()}
    fetched: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for record in access:
        optout = record.get("optout") or {}
        holder = by_name.get(str(optout.get("licensee")))
        if holder is not None and optout.get("rule") == "licence":
            holder.requests += 1
            fetched[holder.client_id][str((record.get("url") or {}).get("path"))] += 1
    for holder in holders.values():
        holder.fetched = dict(sorted(fetched[holder.client_id].items()))
    return sorted(holders.values(), key=lambda h: h.client_id)


def _add(holders: dict[str, Holder], record: dict[str, Any]) -> None:
    action = (record.get("event") or {}).get("action")
    event = (record.get("optout") or {}).get("licence") or {}
    client_id, licensee = event.get("client_id"), event.get("licensee")
    if action not in ACTIONS or not isinstance(client_id, str):
        return
    holder = holders.get(client_id)
    if holder is None:
        if not isinstance(licensee, str):
            return  # a refusal of an unknown client holds nothing
        holder = holders[client_id] = Holder(client_id, licensee)
    stamp = str(record.get("@timestamp", ""))
    if action == "licence-grant":
        holder.grants += 1
        holder.since = holder.since or stamp
        holder.usage.update(event.get("usage") or ())
        holder.paths.update(event.get("paths") or ())
        price = event.get("price")
        if isinstance(price, dict):
            key = (stamp[:7], str(price.get("currency")))
            holder.paid[key] = holder.paid.get(key, Decimal(0)) + Decimal(str(price["amount"]))
    elif action == "licence-refusal":
        holder.refusals += 1
    elif action == "licence-revocation" and not event.get("jti"):
        holder.revoked = True


def as_json(holder: Holder) -> dict[str, Any]:
    return {
        "client_id": holder.client_id,
        "licensee": holder.licensee,
        "since": holder.since,
        "grants": holder.grants,
        "refusals": holder.refusals,
        "revoked": holder.revoked,
        "usage": sorted(holder.usage),
        "paths": sorted(holder.paths),
        "requests": holder.requests,
        "fetched": holder.fetched,
        "paid": [
            {"month": month, "currency": currency, "amount": str(amount)}
            for (month, currency), amount in sorted(holder.paid.items())
        ],
    }
