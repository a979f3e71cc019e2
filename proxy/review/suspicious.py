"""The "undeclared and suspicious" section of `optout logs summary` and the report.

A user agent is a claim; these are the requests whose other evidence says more:

- `undeclared`: from an operator's crawler range, naming none of its agents,
- signals seen (a browser user agent over a library's TLS, missing headers, …),
- flagged clients and trap hits (they fetched the path robots.txt forbids),
- a request naming no agent from a cloud or hosting provider's range.

They are grouped by network provider × client family × signals, with the
undeclared operators and trap hits counted apart, and over time (by day).
Runs on a connection of proxy.review.query that has `SUSPICIOUS_FIELDS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from html import escape
from typing import Any

import duckdb

from proxy.review.text import Cell, cell, table

SUSPICIOUS_FIELDS: tuple[str, ...] = ("provider", "client_family", "signals_seen", "flagged")
SUSPICIOUS_FIELDS += ("trap", "undeclared_operator", "crawler_range", "agent", "identity", "ts")
RESIDENTIAL = "residential/unknown"  # proxy.model.RESIDENTIAL, as the log writes it
MAX_GROUPS = 50

_WHERE = f"""(identity = 'undeclared' OR len(coalesce(signals_seen, [])) > 0
  OR len(coalesce(flagged, [])) > 0 OR trap = 'hit'
  OR (agent IS NULL AND provider IS NOT NULL AND provider <> '{RESIDENTIAL}'))"""
SUSPICIOUS_WHERE = _WHERE  # every row the section reads (proxy.review.summary keeps them)
_GROUPS = f"""
SELECT coalesce(provider, '-'), coalesce(client_family, '-'),
  coalesce(array_to_string(list_sort(signals_seen), ', '), ''),
  count(*), count(*) FILTER (action = 'block'), count(*) FILTER (trap = 'hit')
FROM records WHERE {_WHERE} AND {{where}} GROUP BY ALL ORDER BY 4 DESC, 1, 2, 3
LIMIT {MAX_GROUPS}
"""  # noqa: S608 - ours
_UNDECLARED = """
SELECT undeclared_operator, coalesce(crawler_range, '-'), count(*),
  count(*) FILTER (action = 'block'), min(ts), max(ts)
FROM records WHERE identity = 'undeclared' AND {where} GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2
"""
_OVER_TIME = f"""
SELECT substr(ts, 1, 10), count(*), count(*) FILTER (identity = 'undeclared'),
  count(*) FILTER (trap = 'hit')
FROM records WHERE {_WHERE} AND ts IS NOT NULL AND {{where}} GROUP BY 1 ORDER BY 1
"""  # noqa: S608 - ours


@dataclass(frozen=True, slots=True)
class Group:
    provider: str
    client_family: str
    signals: str
    requests: int
    blocked: int
    trap_hits: int


@dataclass(frozen=True, slots=True)
class Undeclared:
    operator: str | None
    crawler_range: str
    requests: int
    blocked: int
    first_seen: str | None
    last_seen: str | None


@dataclass(frozen=True, slots=True)
class Day:
    day: str
    requests: int
    undeclared: int
    trap_hits: int


@dataclass(frozen=True, slots=True)
class Suspicious:
    groups: tuple[Group, ...]
    undeclared: tuple[Undeclared, ...]
    days: tuple[Day, ...]

    @property
    def trap_hits(self) -> int:
        return sum(d.trap_hits for d in self.days)

    @property
    def requests(self) -> int:
        return sum(d.requests for d in self.days)

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "trap_hits": self.trap_hits,
            "undeclared_operators": [asdict(u) for u in self.undeclared],
            "groups": [asdict(g) for g in self.groups],
            "by_day": [asdict(d) for d in self.days],
        }


def find_suspicious(
    con: duckdb.DuckDBPyConnection, where: str = "true", params: Sequence[object] = ()
) -> Suspicious:
    """The section's figures from `con`'s `records` view, in the window `where` selects."""

    def rows(sql: str) -> list[Any]:
        return con.execute(sql.format(where=where), list(params)).fetchall()

    return Suspicious(
        tuple(Group(*row) for row in rows(_GROUPS)),
        tuple(Undeclared(*row) for row in rows(_UNDECLARED)),
        tuple(Day(*row) for row in rows(_OVER_TIME)),
    )


def render(found: Suspicious) -> str:
    """The section as text, after the summary table."""
    lines = [f"\nUndeclared and suspicious: {found.requests:,} request(s), "]
    lines[0] += f"{found.trap_hits:,} trap hit(s)\n"
    if not found.requests:
        return lines[0]
    if found.undeclared:
        headers = ["undeclared operator", "crawler range", "requests", "blocked", "first", "last"]
        rows = [[u.operator, u.crawler_range, u.requests, u.blocked, u.first_seen, u.last_seen]
                for u in found.undeclared]  # fmt: skip
        lines.append(table(headers, rows))
    headers = ["network", "client family", "signals", "requests", "blocked", "trap hits"]
    rows = [[g.provider, g.client_family, g.signals or "-", g.requests, g.blocked, g.trap_hits]
            for g in found.groups]  # fmt: skip
    lines.append(table(headers, rows))
    rows = [[d.day, d.requests, d.undeclared, d.trap_hits] for d in found.days]
    lines.append(table(["day", "requests", "undeclared", "trap hits"], rows))
    return "\n".join(lines)


def html(found: Suspicious) -> str:
    """The report's section body: the same three tables."""
    if not found.requests:
        return '<p class="empty" id="suspicious-empty">No undeclared or suspicious requests.</p>'
    parts = [
        f'<p class="note" id="suspicious-totals">{found.requests:,} request(s), '
        f"{found.trap_hits:,} trap hit(s)</p>"
    ]
    undeclared = [
        (u.operator, u.crawler_range, u.requests, u.blocked, u.first_seen, u.last_seen)
        for u in found.undeclared
    ]
    heads = ["undeclared operator", "crawler range", "requests", "blocked", "first", "last"]
    parts.append(_table("undeclared", heads, undeclared))
    groups = [
        (g.provider, g.client_family, g.signals or "-", g.requests, g.blocked, g.trap_hits)
        for g in found.groups
    ]
    heads = ["network", "client family", "signals", "requests", "blocked", "trap hits"]
    parts.append(_table("suspicious", heads, groups))
    days = [(d.day, d.requests, d.undeclared, d.trap_hits) for d in found.days]
    parts.append(_table("suspicious-days", ["day", "requests", "undeclared", "trap hits"], days))
    return "".join(parts)


def _table(name: str, headers: list[str], rows: Sequence[Sequence[Cell]]) -> str:
    if not rows:
        return ""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            ('<td class="n">' if isinstance(v, int) else "<td>") + f"{escape(cell(v))}</td>"
            for v in row
        )
        + "</tr>"
        for row in rows
    )
    return f'<table id="{name}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
