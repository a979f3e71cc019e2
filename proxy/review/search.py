"""`optout logs search`: the records matching every filter given, as a table or raw JSON lines.

JSON output is each record's line exactly as logged (DuckDB's read_ndjson_objects
keeps the text), so what search prints can be checked against the chain.
--path is a prefix, or a glob when it holds *, ? or [ (`/releases/*.mp3`); --ip is
an address or a network (`203.0.113.0/24`); --ref is the reference a block page
gave (`http.request.id`) or a record's sequence number.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proxy.review import query
from proxy.review.files import ReviewError, chains
from proxy.review.summary import window
from proxy.review.text import table

_GLOB = frozenset("*?[")
_REF = re.compile(r"\d+|[0-9a-f]{16}")  # proxy.decision.blockpage.reference, or event.sequence
_COLUMNS = "ts, ip, agent, identity, action, status, path, query"
# What the filters and the table read: fewer fields parse faster (--json keeps the raw line).
_FIELDS: tuple[str, ...] = ("ts", "seq", "ip", "agent", "identity", "action", "status", "path")
_FIELDS += ("query", "purpose")
_FIELDS += tuple(f for f in ("ref",) if f in query.FIELDS)


@dataclass(frozen=True, slots=True)
class Filters:
    agent: str | None = None
    purpose: str | None = None
    identity: str | None = None
    action: str | None = None
    ip: str | None = None
    path: str | None = None
    since: str | None = None
    until: str | None = None
    ref: str | None = None  # a block page's reference (http.request.id) or a sequence number


def where(filters: Filters) -> tuple[str, list[object]]:
    """The filters as one WHERE clause with parameters (a network --ip is checked after)."""
    clause, params = window(filters.since, filters.until)
    for column in ("agent", "purpose", "identity", "action"):
        value = getattr(filters, column)
        if value is not None:
            clause += f" AND {column} = ?" if value != "-" else f" AND {column} IS NULL"
            params += [value] if value != "-" else []
    if filters.ip is not None and _network(filters.ip) is None:
        clause += " AND ip = ?"
        params.append(filters.ip)
    if filters.ref is not None:
        ref = filters.ref.strip().lower()
        if _REF.fullmatch(ref) is None:  # a typo must not find nothing without a word
            raise ReviewError(
                f"--ref {filters.ref!r}: a block page's reference is 16 hex digits "
                "(such as 355bf7c37e81a97f), or give a record's sequence number"
            )
        clause += " AND seq = ?" if ref.isdigit() else " AND ref = ?"
        params.append(int(ref) if ref.isdigit() else ref)
    if filters.path is not None:
        glob = bool(_GLOB & set(filters.path))
        clause += " AND path GLOB ?" if glob else " AND starts_with(path, ?)"
        params.append(filters.path)
    return clause, params


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if "/" not in text:
        return None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ReviewError(f"--ip {text}: not an address or a network") from None


def search(
    files: Sequence[Path], filters: Filters, *, raw: bool = False, limit: int | None = None
) -> Iterator[tuple[Any, ...]]:
    """Matching rows in log order: (ts, ip, agent, identity, action, status, path, query[, raw])."""
    clause, params = where(filters)
    network = _network(filters.ip) if filters.ip else None
    columns = _COLUMNS + (", raw" if raw else "")
    sql = f"SELECT {columns} FROM records WHERE {clause}"  # noqa: S608 - values are parameters
    if len(chains(files)) > 1:  # the logs of several workers: merged by time
        sql += " ORDER BY ts, seq"
    if limit is not None and network is None:
        sql += f" LIMIT {int(limit)}"
    cursor = query.connect(files, raw=raw, fields=_FIELDS).execute(sql, params)
    count = 0
    while batch := cursor.fetchmany(10_000):
        for row in batch:
            if network is not None and not _in(row[1], network):
                continue
            yield row
            count += 1
            if limit is not None and count >= limit:
                return


def _in(address: str | None, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address) in network
    except ValueError:
        return False


def render(rows: Sequence[tuple[Any, ...]]) -> str:
    """The rows as an aligned table."""
    headers = ["time", "ip", "agent", "identity", "action", "status", "path"]
    cells = [[*r[:6], r[6] + (f"?{r[7]}" if r[7] else "")] for r in rows]
    return table(headers, cells) + f"\n{len(rows)} record(s)\n"
