"""The plain statement `optout evidence verify` prints once every check passed.

"Between T1 and T2 (timestamped by TSA X), agent A from addresses … made N
requests; each response carried reservation R (hash …); robots.txt version V
(hash …) disallowed the paths …". T1 is the newest timestamp from before the
first record and T2 the oldest covering the last one; without them the times
are the log's own, and the statement says so.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Any

from protego import Protego

from proxy.review.bundle_proof import Attested, Proof

_SHOW = 5  # addresses and paths listed before "and N more"


def statement(records: list[bytes], files: dict[str, bytes], proof: Proof) -> str:
    rows = [json.loads(line) for line in records]
    if not rows:
        return ""
    first, last = _seq(rows[0]), _seq(rows[-1])
    agents = sorted({str((r.get("optout") or {}).get("agent")) for r in rows})
    ips = sorted({str((r.get("source") or {}).get("ip")) for r in rows})
    lines = [
        f"{_window(rows, proof.attested, first, last)}, {_join('agent', agents)} from "
        f"{_list('address', ips)} made {len(rows)} request(s)."
    ]
    lines += _headers(rows, files)
    lines += _robots(rows, files, agents)
    return "\n".join(lines)


def _seq(row: dict[str, Any]) -> int:
    return int((row.get("event") or {}).get("sequence") or 0)


def _window(rows: list[dict[str, Any]], attested: list[Attested], first: int, last: int) -> str:
    before = [a for a in attested if a.sequence < first]
    after = [a for a in attested if a.sequence >= last]
    t1 = max(before, key=lambda a: a.time) if before else None
    t2 = min(after, key=lambda a: a.time) if after else None
    logged = f"{rows[0].get('@timestamp')} and {rows[-1].get('@timestamp')}"
    if t2 is None:
        return f"Between {logged} (the log's own times: no timestamp covers these records)"
    start = _when(t1.time) if t1 else f"{rows[0].get('@timestamp')} (as logged)"
    tsa = t2.tsa if t1 is None or t1.tsa == t2.tsa else f"{t1.tsa} and {t2.tsa}"
    return (
        f"Between {start} and {_when(t2.time)} (timestamped by TSA {tsa}, "
        f"root certificate SHA-256 {t2.root_sha256[:16]}…)"
    )


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _headers(rows: list[dict[str, Any]], files: dict[str, bytes]) -> list[str]:
    sets = Counter(
        str(((r.get("optout") or {}).get("headers_served") or {}).get("sha256")) for r in rows
    )
    lines = []
    for sha, count in sets.most_common():
        body = files.get(f"headersets/{sha}")
        if body is None:
            continue
        shown = "; ".join(body.decode("utf-8", "replace").splitlines())
        every = "each response" if count == len(rows) else f"{count} response(s)"
        lines.append(f"{every.capitalize()} carried the reservation {shown} (hash {sha}).")
    if not lines:
        signals = sorted({s for r in rows for s in (r.get("optout") or {}).get("signals") or []})
        if signals:
            lines.append(f"The responses carried the reservation signals {', '.join(signals)}.")
    return lines


def _robots(rows: list[dict[str, Any]], files: dict[str, bytes], agents: list[str]) -> list[str]:
    # Paths always free (robots.txt, the reservation documents) are no one's violation.
    paths = [
        str((r.get("url") or {}).get("path"))
        for r in rows
        if (r.get("optout") or {}).get("rule") != "always-free"
    ]
    fetched = [p for p in dict.fromkeys(paths) if p != "/robots.txt"]
    lines = []
    for name, body in sorted(files.items()):
        if not name.startswith("served/") or not _is_robots(rows, name[len("served/") :]):
            continue
        parsed = Protego.parse(body.decode("utf-8", "replace"))
        denied = [p for p in fetched if any(not parsed.can_fetch(p, a) for a in agents)]
        sha = name[len("served/") :]
        told = _list("path", denied) if denied else "none of the paths fetched"
        lines.append(f"robots.txt version {sha[:12]}… (hash {sha}) disallowed {told}.")
    return lines


def _is_robots(rows: list[dict[str, Any]], sha: str) -> bool:
    for r in rows:
        served = (r.get("optout") or {}).get("served") or {}
        if served.get("sha256") == sha:
            return served.get("kind") == "robots.txt"
    return False


def _join(what: str, names: list[str]) -> str:
    return f"{what} {names[0]}" if len(names) == 1 else f"{what}s {', '.join(names)}"


def _list(what: str, items: list[str]) -> str:
    shown = ", ".join(items[:_SHOW])
    more = f" and {len(items) - _SHOW} more" if len(items) > _SHOW else ""
    many = len(items) > 1
    name = {
        "address": "addresses" if many else "address",
        "path": "the paths" if many else "the path",
    }
    return f"{name[what]} {shown}{more}"
