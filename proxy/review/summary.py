"""`optout logs summary`: what each agent asked for, what it got, and how sure we are who it was.

One row per agent (or operator, or purpose): requests, blocked and allowed, the
bytes of content it was given (allowed responses only: a block page is not the
site's content), how its identity was established, when it was first and last
seen, and whether it ever asked for /robots.txt, since a crawler that never read
the file cannot say it respected it. Requests naming no agent share one row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb

from proxy.review import query
from proxy.review.suspicious import SUSPICIOUS_FIELDS, SUSPICIOUS_WHERE, Suspicious, find_suspicious
from proxy.review.suspicious import render as render_suspicious
from proxy.review.text import megabytes, table

NO_AGENT = "(no agent)"
GROUPS = ("agent", "operator", "purpose")


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    operator: str | None
    purpose: str | None
    requests: int
    blocked: int
    allowed: int
    errors: int
    bytes_served: int
    verified: int
    claimed: int
    spoofed: int
    first_seen: str | None
    last_seen: str | None
    fetched_robots_txt: bool


@dataclass(frozen=True, slots=True)
class Summary:
    by: str
    since: str | None
    until: str | None
    rows: tuple[Row, ...]
    gaps: int
    suspicious: Suspicious | None = None  # the "undeclared and suspicious" section

    def as_json(self) -> dict[str, Any]:
        totals = {
            "requests": sum(r.requests for r in self.rows),
            "blocked": sum(r.blocked for r in self.rows),
            "allowed": sum(r.allowed for r in self.rows),
            "bytes_served": sum(r.bytes_served for r in self.rows),
        }
        return {
            "by": self.by,
            "since": self.since,
            "until": self.until,
            "totals": totals,
            "log_gaps": self.gaps,
            "rows": [asdict(r) for r in self.rows],
        } | ({"suspicious": self.suspicious.as_json()} if self.suspicious is not None else {})


_SELECT = """
SELECT action IS NOT DISTINCT FROM 'log-gap' AS gap, coalesce({key}, '{none}') AS name,
  {operator}, {purpose},
  count(*), count(*) FILTER (action = 'block'), count(*) FILTER (action = 'allow'),
  count(*) FILTER (action = 'error'),
  coalesce(sum(bytes) FILTER (action = 'allow'), 0)::BIGINT,
  count(*) FILTER (identity = 'verified'), count(*) FILTER (identity = 'claimed'),
  count(*) FILTER (identity = 'spoofed'),
  min(ts), max(ts), coalesce(bool_or(path = '/robots.txt'), false)
FROM {table} WHERE {where}
GROUP BY 1, 2 ORDER BY 5 DESC, 2
"""


def summarise(
    files: Sequence[Path],
    since: str | None = None,
    until: str | None = None,
    *,
    by: str = "agent",
    agent: str | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
    unmask: bool = False,
) -> Summary:
    """Aggregate `files` in one DuckDB query (one scan of the log), or `con`'s records.

    Log-gap records are counted in the same scan (a second one would double the time).
    """
    if by not in GROUPS:
        raise ValueError(f"cannot group by '{by}': expected one of {', '.join(GROUPS)}")
    where, params = window(since, until)
    table = "everything"
    if agent is not None:
        where += " AND agent = ?"
        params.append(agent)
        table = "records"
    sql = _SELECT.format(
        key=by,
        none=f"(no {by})",
        operator="any_value(operator)" if by == "agent" else "NULL",
        purpose="any_value(purpose)" if by == "agent" else "NULL",
        where=where,
        table=table,
    )
    fields = query.SUMMARY_FIELDS + (SUSPICIOUS_FIELDS if unmask else ())
    own = con is None
    con = con or query.connect(files, fields=fields)
    found = con.execute(sql, params).fetchall()
    rows = tuple(Row(*r[1:]) for r in found if not r[0])
    if unmask and own:
        # The section's three queries read the few suspicious rows, kept in one more scan,
        # rather than scanning the files three more times.
        con.execute(
            f"CREATE TEMP TABLE kept AS SELECT * FROM records WHERE {SUSPICIOUS_WHERE} "  # noqa: S608
            f"AND {where}",
            params,
        )
        con.execute("CREATE OR REPLACE VIEW records AS SELECT * FROM kept")
    # With `unmask`, the "undeclared and suspicious" section (over the whole window).
    section = find_suspicious(con, where, params) if unmask else None
    return Summary(by, since, until, rows, sum(int(r[4]) for r in found if r[0]), section)


def window(since: str | None, until: str | None) -> tuple[str, list[object]]:
    """A WHERE clause for [since, until) on the record's @timestamp."""
    clauses, params = ["true"], list[object]()
    if since is not None:
        clauses.append("ts >= ?")
        params.append(since)
    if until is not None:
        clauses.append("ts < ?")
        params.append(until)
    return " AND ".join(clauses), params


def render(summary: Summary) -> str:
    """The summary as an aligned table, most active first."""
    headers = [summary.by, "operator", "purpose", "requests", "blocked", "allowed", "served"]
    headers += ["verified", "claimed", "spoofed", "first seen", "last seen", "robots.txt"]
    rows = [
        [r.name, r.operator, r.purpose, r.requests, r.blocked, r.allowed]
        + [megabytes(r.bytes_served), r.verified, r.claimed, r.spoofed]
        + [r.first_seen, r.last_seen, "fetched" if r.fetched_robots_txt else "never"]
        for r in summary.rows
    ]
    if summary.by != "agent":
        headers = [h for h in headers if h not in ("operator", "purpose")]
        rows = [[v for i, v in enumerate(row) if i not in (1, 2)] for row in rows]
    text = table(headers, rows, right=("served",))
    if summary.gaps:
        text += f"\n{summary.gaps} log gap record(s): records were lost in this window\n"
    if summary.suspicious is not None:
        text += render_suspicious(summary.suspicious)
    return text
