"""`optout logs report`: one HTML page a security team can open anywhere, offline.

Everything is inline (CSS from report.html, SVG drawn by proxy.review.charts,
no script, font or image fetched), so the file can be mailed, archived with a
case, or opened on an air-gapped machine. The log is read once into an
in-memory DuckDB table of the columns the page needs; violations come from
proxy.review.violations, so the page and `optout logs violations` agree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from html import escape
from importlib import resources
from pathlib import Path
from string import Template

import duckdb

from proxy import __version__
from proxy.review import changes, charts, integrity, query, violations
from proxy.review.summary import Summary, summarise, window
from proxy.review.suspicious import SUSPICIOUS_FIELDS, find_suspicious
from proxy.review.suspicious import html as suspicious_html
from proxy.review.text import Cell, cell, megabytes

# The columns the page reads: the summary's, the suspicious section's, and its own.
REPORT_FIELDS = tuple(
    dict.fromkeys((*query.SUMMARY_FIELDS, *SUSPICIOUS_FIELDS, "ip", "ua", "failure", "outcome"))
)
SPOOF_ONLY = ("ip", "ua", "failure")
TOP_AGENTS = 6
TOP_PATHS = 12
MAX_ROWS = 200
LONG = 40  # characters: a longer cell wraps (CSS class "long")


def build(
    files: Sequence[Path],
    state: Path,
    tokens: Callable[[str], Sequence[str]],
    since: str | None = None,
    until: str | None = None,
    key: bytes | None = None,
    checked: Sequence[integrity.Integrity] | None = None,
) -> str:
    """The report page for `files` in [since, until); `key` verifies a keyed chain.

    `checked`: the files' chains already verified (integrity.check_all)."""
    # The whole files, whatever the window.
    chain = checked if checked is not None else integrity.check_all(files, state, key)
    con = query.connect(files, fields=REPORT_FIELDS)
    con.execute("SET preserve_insertion_order = false")  # less memory; every query sorts
    where, params = window(since, until)
    # One scan of the log into memory; every chart and table then reads the table. The
    # address, user agent and verification failure are shown for spoofed requests only.
    spoofed = ", ".join(f"CASE WHEN identity = 'spoofed' THEN {c} END AS {c}" for c in SPOOF_ONLY)
    con.execute(
        f"CREATE TABLE kept AS SELECT * REPLACE ({spoofed}) FROM everything WHERE {where}",  # noqa: S608
        params,
    )
    con.execute("CREATE OR REPLACE VIEW everything AS SELECT * FROM kept")
    con.execute(
        "CREATE OR REPLACE VIEW records AS "
        "SELECT * FROM kept WHERE action IS DISTINCT FROM 'log-gap'"
    )
    con.execute("CREATE VIEW r AS SELECT * FROM records")
    summary = summarise(files, since, until, con=con)
    found = violations.find(files, state, tokens, violations.Options(since, until))
    first, last = _span(summary)
    unit = charts.time_unit(first, last) if first and last else charts.DAY
    labels = charts.time_buckets(first, last, unit) if first and last else []
    template = resources.files("proxy.review").joinpath("report.html").read_text("utf-8")
    return Template(template).substitute(
        version=escape(__version__),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        period=escape(_period(summary)),
        files=escape(", ".join(f.name for f in files)),
        integrity=integrity.html(chain),
        tiles=_tiles(summary, found, con),
        over_time=_over_time(con, unit, labels),
        blocked_allowed=_blocked_allowed(con, unit, labels),
        changes=changes.html(changes.find(con), first or "-", last or "-"),
        top_paths=_top_paths(con),
        spoofed=_spoofed(con),
        violations=_violations(found),
        summary=_summary_table(summary),
        suspicious=suspicious_html(find_suspicious(con)),
    )


def _span(summary: Summary) -> tuple[str | None, str | None]:
    first = min((r.first_seen for r in summary.rows if r.first_seen), default=None)
    last = max((r.last_seen for r in summary.rows if r.last_seen), default=None)
    return first, last


def _period(summary: Summary) -> str:
    first, last = _span(summary)
    return f"{first or '-'} to {last or '-'}"


def _tiles(summary: Summary, found: violations.Findings, con: duckdb.DuckDBPyConnection) -> str:
    totals = summary.as_json()["totals"]
    spoofed = sum(r.spoofed for r in summary.rows)
    agents = sum(1 for r in summary.rows if r.operator is not None or r.purpose is not None)
    tiles = [
        ("requests", f"{totals['requests']:,}", ""),
        ("blocked", f"{totals['blocked']:,}", "bad" if totals["blocked"] else ""),
        ("allowed", f"{totals['allowed']:,}", ""),
        ("content served", megabytes(totals["bytes_served"]), ""),
        ("known agents", f"{agents:,}", ""),
        ("spoofed requests", f"{spoofed:,}", "bad" if spoofed else ""),
        ("violations", f"{len(found.violations):,}", "bad" if found.violations else ""),
        ("log gaps", f"{summary.gaps:,}", "bad" if summary.gaps else ""),
        *_challenge_tiles(con),
    ]
    return "".join(
        f'<div class="tile {cls}" id="tile-{escape(name.replace(" ", "-"))}">'
        f'<div class="value">{value}</div><div class="name">{escape(name)}</div></div>'
        for name, value, cls in tiles
    )


def _challenge_tiles(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    """Challenges issued, passed and failed (`action: challenge`); none if no rule challenged."""
    counts = dict(
        con.execute(
            "SELECT outcome, count(*) FROM records WHERE outcome IN "
            "('challenged', 'challenge-passed', 'challenge-failed') GROUP BY outcome"
        ).fetchall()
    )
    if not counts:
        return []
    failed = counts.get("challenge-failed", 0)
    return [
        ("challenged", f"{counts.get('challenged', 0):,}", ""),
        ("challenges passed", f"{counts.get('challenge-passed', 0):,}", ""),
        ("challenges failed", f"{failed:,}", "bad" if failed else ""),
    ]


def _over_time(con: duckdb.DuckDBPyConnection, unit: int, labels: Sequence[str]) -> str:
    ranked = con.execute(
        "SELECT agent FROM r WHERE agent IS NOT NULL GROUP BY agent ORDER BY count(*) DESC, agent"
    ).fetchall()
    top = [row[0] for row in ranked[:TOP_AGENTS]]
    counts = con.execute(
        f"SELECT substr(ts, 1, {unit}), CASE WHEN agent IS NULL THEN '(no agent)' "  # noqa: S608
        "WHEN list_contains(?, agent) THEN agent ELSE '(other agents)' END, count(*) "
        "FROM r WHERE ts IS NOT NULL GROUP BY ALL",
        [top],
    ).fetchall()
    names = [*top, "(other agents)", "(no agent)"]
    table = {(b, n): c for b, n, c in counts}
    series = [
        (name, [table.get((b, name), 0) for b in labels], charts.PALETTE[i % len(charts.PALETTE)])
        for i, name in enumerate(names)
        if any(table.get((b, name)) for b in labels)
    ]
    return charts.stacked_bars(f"Requests per {_unit_name(unit)}, by agent", _short(labels), series)


def _blocked_allowed(con: duckdb.DuckDBPyConnection, unit: int, labels: Sequence[str]) -> str:
    counts = con.execute(
        f"SELECT substr(ts, 1, {unit}), action, count(*) FROM r WHERE ts IS NOT NULL "  # noqa: S608
        "GROUP BY ALL"
    ).fetchall()
    table = {(b, a): c for b, a, c in counts}
    series = [
        ("blocked", [table.get((b, "block"), 0) for b in labels], charts.BLOCKED),
        ("allowed", [table.get((b, "allow"), 0) for b in labels], charts.ALLOWED),
        ("error", [table.get((b, "error"), 0) for b in labels], "#999999"),
    ]
    title = f"Blocked and allowed requests per {_unit_name(unit)}"
    return charts.stacked_bars(title, _short(labels), [s for s in series if any(s[1])])


def _unit_name(unit: int) -> str:
    return f"{charts.UNIT_NAMES[unit]} (UTC)"


def _short(labels: Sequence[str]) -> list[str]:
    return [charts.short_label(b) for b in labels]


def _top_paths(con: duckdb.DuckDBPyConnection) -> str:
    rows = con.execute(
        "SELECT path, count(*) FILTER (action = 'block'), count(*) FILTER (action <> 'block') "
        "FROM r WHERE path IS NOT NULL GROUP BY path ORDER BY count(*) DESC, path LIMIT ?",
        [TOP_PATHS],
    ).fetchall()
    return charts.hbars(f"Top {TOP_PATHS} paths", [(p, int(b), int(a)) for p, b, a in rows])


def _spoofed(con: duckdb.DuckDBPyConnection) -> str:
    rows = con.execute(
        "SELECT agent, ip, count(*), min(ts), max(ts), any_value(failure), any_value(ua) "
        "FROM r WHERE identity = 'spoofed' GROUP BY agent, ip ORDER BY 3 DESC, 1, 2 LIMIT ?",
        [MAX_ROWS],
    ).fetchall()
    headers = ["claimed agent", "ip", "requests", "first", "last", "why spoofed", "user agent"]
    return _html_table("spoofed", headers, rows, "No spoofed requests.")


def _violations(found: violations.Findings) -> str:
    rows: list[Sequence[Cell]] = [
        (v.time, v.agent, v.identity, v.ip, v.path, v.status, v.kind, v.describe())
        for v in found.violations[:MAX_ROWS]
    ]
    headers = ["time", "agent", "identity", "ip", "path", "status", "violated", "evidence"]
    html = _html_table("violations", headers, rows, "No violations found.")
    more = len(found.violations) - len(rows)
    if more > 0:
        html += f'<p class="note">and {more:,} more: see <code>optout logs violations</code></p>'
    if found.allowed:  # not violations: the label's own rules let them in
        html += (
            f'<p class="note" id="allowed-after-reservation">{len(found.allowed):,} request(s) '
            "were served after the TDM reservation was shown because the policy allowed them: "
            "see <code>optout logs violations</code></p>"
        )
    if found.never_fetched_robots:
        names = escape(", ".join(found.never_fetched_robots))
        html += (
            '<p class="note">Never fetched robots.txt, so no robots.txt violation is claimed: '
            f"{names}</p>"
        )
    return html


def _summary_table(summary: Summary) -> str:
    headers = ["agent", "operator", "purpose", "requests", "blocked", "allowed", "served"]
    headers += ["verified", "claimed", "spoofed", "first seen", "last seen", "robots.txt"]
    rows: list[Sequence[Cell]] = [
        (r.name, r.operator, r.purpose, r.requests, r.blocked, r.allowed,
         megabytes(r.bytes_served), r.verified, r.claimed, r.spoofed, r.first_seen,
         r.last_seen, "fetched" if r.fetched_robots_txt else "never")
        for r in summary.rows
    ]  # fmt: skip
    return _html_table("summary", headers, rows, "No requests.")


def _html_table(
    name: str, headers: Sequence[str], rows: Sequence[Sequence[Cell]], empty: str
) -> str:
    if not rows:
        return f'<p class="empty" id="{name}-empty">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_td(v) for v in row) + "</tr>" for row in rows)
    return f'<table id="{name}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _td(value: Cell) -> str:
    """Numbers align right; long text (user agents, evidence) wraps instead of widening."""
    text = cell(value)
    if isinstance(value, int | float):
        return f'<td class="n">{escape(text)}</td>'
    return (
        f'<td class="long">{escape(text)}</td>' if len(text) > LONG else f"<td>{escape(text)}</td>"
    )
