"""The report's "what changed" view: the later half of the log's span against the earlier.

Halves of the window rather than two named periods, so the view needs no
flags and fits any log: a security team sees which agents are new, which
addresses started spoofing a crawler, and whose blocks rose. Run the report
with --since/--until to choose the span being halved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape

import duckdb

MAX_ROWS = 50


@dataclass(frozen=True, slots=True)
class Changes:
    middle: str | None  # where the halves meet (None: no timed records)
    new_agents: tuple[tuple[str, int], ...]  # (agent, requests in the later half)
    new_spoofers: tuple[tuple[str, str, int], ...]  # (claimed agent, ip, requests)
    rising_blocks: tuple[tuple[str, int, int], ...]  # (agent, blocks before, blocks after)


def middle(first: str, last: str) -> str:
    """The instant halfway between two log timestamps, in the log's own format."""
    a, b = datetime.fromisoformat(first), datetime.fromisoformat(last)
    mid = a + (b - a) / 2
    return mid.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def find(con: duckdb.DuckDBPyConnection, table: str = "r") -> Changes:
    """Compare the halves of `table`'s span (a view of request records with `ts`)."""
    first, last = con.execute(f"SELECT min(ts), max(ts) FROM {table}").fetchone() or (None, None)  # noqa: S608
    if first is None or last is None or first == last:
        return Changes(None, (), (), ())
    mid = middle(first, last)
    half = f"SELECT *, ts >= '{mid}' AS later FROM {table} WHERE ts IS NOT NULL"  # noqa: S608
    con.execute(f"CREATE OR REPLACE TEMP VIEW halves AS {half}")
    agents = con.execute(
        "SELECT agent, count(*) FILTER (later) FROM halves WHERE agent IS NOT NULL "
        "GROUP BY agent HAVING NOT bool_or(NOT later) ORDER BY 2 DESC, 1 LIMIT ?",
        [MAX_ROWS],
    ).fetchall()
    spoofers = con.execute(
        "SELECT agent, ip, count(*) FILTER (later) FROM halves WHERE identity = 'spoofed' "
        "GROUP BY agent, ip HAVING NOT bool_or(NOT later) ORDER BY 3 DESC, 1, 2 LIMIT ?",
        [MAX_ROWS],
    ).fetchall()
    blocks = con.execute(
        "SELECT coalesce(agent, '(no agent)'), count(*) FILTER (NOT later), "
        "count(*) FILTER (later) FROM halves WHERE action = 'block' GROUP BY 1 "
        "HAVING count(*) FILTER (later) > count(*) FILTER (NOT later) "
        "ORDER BY count(*) FILTER (later) - count(*) FILTER (NOT later) DESC, 1 LIMIT ?",
        [MAX_ROWS],
    ).fetchall()
    return Changes(mid, tuple(agents), tuple(spoofers), tuple(blocks))


def html(found: Changes, first: str, last: str) -> str:
    """Three small lists; an empty one says so rather than vanishing."""
    if found.middle is None:
        return '<p class="empty" id="changes-empty">Too few timed records to compare.</p>'
    lead = (
        f'<p class="note">Earlier half: {escape(first)} to {escape(found.middle)}; '
        f"later half: {escape(found.middle)} to {escape(last)}.</p>"
    )
    agents = [f"{escape(a)} ({_requests(n)})" for a, n in found.new_agents]
    spoofers = [
        f"{escape(a)} from {escape(ip)} ({_requests(n)})" for a, ip, n in found.new_spoofers
    ]
    rising = [f"{escape(a)}: {b:,} &rarr; {c:,} blocked" for a, b, c in found.rising_blocks]
    return (
        lead
        + '<div class="changes">'
        + "".join(
            _list(key, title, items, empty)
            for key, title, items, empty in (
                ("new-agents", "New agents", agents, "No agent is new in the later half."),
                ("new-spoofers", "New spoofers", spoofers, "No new spoofed agent or address."),
                ("rising-blocks", "Rising blocks", rising, "No agent was blocked more often."),
            )
        )
        + "</div>"
    )


def _list(key: str, title: str, items: list[str], empty: str) -> str:
    body = (
        "".join(f"<li>{item}</li>" for item in items) or f'<li class="empty">{escape(empty)}</li>'
    )
    return f'<div class="change" id="{key}"><h3>{escape(title)}</h3><ul>{body}</ul></div>'


def _requests(n: int) -> str:
    return f"{n:,} request" + ("" if n == 1 else "s")
