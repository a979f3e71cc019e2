"""Trap hits in the log: clients that fetched the robots.txt trap, with the evidence.

A trap hit (`optout.trap: hit`, proxy.decision.trap) is the strongest violation
the log can show: the path is disallowed for every agent in the robots.txt the
proxy serves, and linked only where no person sees it. Each hit carries the
robots.txt version the same address was served before (`optout.trap_robots`),
which `optout logs evidence` can produce from the state directory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proxy.review.files import ReviewError, in_window
from proxy.review.query import duckdb_connect
from proxy.review.text import table

_COLUMNS = (
    "{'@timestamp': 'VARCHAR', 'source': 'STRUCT(ip VARCHAR, address VARCHAR)', "
    "'url': 'STRUCT(domain VARCHAR, path VARCHAR)', "
    "'user_agent': 'STRUCT(original VARCHAR)', "
    "'http': 'STRUCT(response STRUCT(status_code INTEGER))', "
    "'tls': 'STRUCT(client STRUCT(ja4 VARCHAR))', "
    "'optout': 'STRUCT(trap VARCHAR, agent VARCHAR, identity VARCHAR, client_family VARCHAR, "
    "signals_seen VARCHAR[], trap_robots STRUCT(sha256 VARCHAR, served_at VARCHAR))'}"
)
_SELECT = """
SELECT "@timestamp", coalesce(source.ip, source.address), url.domain, url.path, user_agent.original,
  http.response.status_code, tls.client.ja4, optout.agent, optout.identity,
  optout.client_family, optout.signals_seen, optout.trap_robots.sha256,
  optout.trap_robots.served_at
FROM read_json({files}, columns={columns}, format='newline_delimited',
  compression='auto', ignore_errors=true)
WHERE optout.trap = 'hit' ORDER BY "@timestamp"
"""


@dataclass(frozen=True, slots=True)
class TrapHit:
    time: str
    ip: str | None  # or its pseudonym, in a log written with --log-privacy
    domain: str | None
    path: str
    user_agent: str | None
    status: int | None
    ja4: str | None
    agent: str | None
    identity: str | None
    client_family: str | None
    signals: tuple[str, ...]
    robots_sha256: str | None  # the robots.txt served to that address before, if any
    robots_served_at: str | None

    def describe(self) -> str:
        if self.robots_sha256:
            told = f"after robots.txt {self.robots_sha256[:12]} served {self.robots_served_at}"
        else:
            told = "robots.txt not fetched from this address"
        return f"trap fetched, {told}"


def find(
    files: Sequence[Path], since: str | None = None, until: str | None = None
) -> list[TrapHit]:
    if not files:
        raise ReviewError("no log files to read")
    paths = "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in files) + "]"
    sql = _SELECT.format(files=paths, columns=_COLUMNS)
    con = duckdb_connect()
    con.execute("SET enable_progress_bar = false")
    rows = con.execute(sql).fetchall()
    return [_hit(row) for row in rows if in_window(row[0], since, until)]


def _hit(row: tuple[Any, ...]) -> TrapHit:
    ts, ip, domain, path, ua, status, ja4, agent, identity, family, signals, sha, at = row
    return TrapHit(
        ts,
        ip,
        domain,
        path,
        ua,
        status,
        ja4,
        agent,
        identity,
        family,
        tuple(signals or ()),
        sha,
        at,
    )


def render(hits: Sequence[TrapHit]) -> str:
    """The trap hits as an aligned table (first in `optout logs violations`)."""
    if not hits:
        return "no trap hits\n"
    rows = [
        [
            h.time,
            h.ip,
            h.agent or h.user_agent,
            h.client_family,
            h.ja4,
            h.path,
            h.status,
            h.describe(),
        ]
        for h in hits
    ]
    headers = ["time", "ip", "agent", "client", "ja4", "path", "status", "evidence"]
    return table(headers, rows) + f"\n{len(hits)} trap hit(s)\n\n"
