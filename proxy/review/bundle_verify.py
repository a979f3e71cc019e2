"""`optout evidence verify BUNDLE`: re-check an evidence bundle with nothing but the bundle.

Checks, in order: the chain segment is intact (each line's `optout.chain.prev` is
the digest of the line before it and sequences are consecutive, log-gap records
allowed; the first line's prev is taken as the anchor), and the chain head, when
the bundle has one, matches the segment's last line; every matching record is,
byte for byte, a line of the segment, and there are as many as the manifest says;
every served document's content has the SHA-256 it is filed under, and every
document a record names is there. What it cannot check alone: that the anchor is
the operator's log. For that, compare the first line's prev and the last line's
digest with the log (`optout logs verify` on it), or rely on an HMAC key.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proxy.evidence.chain import HMAC_SHA256, Head, digest
from proxy.evidence.chainverify import verify_lines
from proxy.review.evidence import HEAD, MANIFEST, RECORDS, SEGMENT, SERVED
from proxy.review.files import ReviewError


@dataclass(slots=True)
class Outcome:
    ok: bool = True
    needs_key: bool = False
    problems: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)

    def fail(self, problem: str) -> None:
        self.ok = False
        self.problems.append(problem)


def verify(bundle_path: Path, key: bytes | None) -> Outcome:
    """Every check on the bundle at `bundle_path`; ReviewError if it is not a bundle."""
    try:
        with zipfile.ZipFile(bundle_path) as bundle:
            names = set(bundle.namelist())
            missing = {RECORDS, SEGMENT, MANIFEST} - names
            if missing:
                raise ReviewError(f"{bundle_path}: not an evidence bundle (no {sorted(missing)})")
            manifest = json.loads(bundle.read(MANIFEST))
            segment = bundle.read(SEGMENT).splitlines()
            records = bundle.read(RECORDS).splitlines()
            served = {n[len(SERVED) :]: bundle.read(n) for n in names if n.startswith(SERVED)}
            head = bundle.read(HEAD) if HEAD in names else None
    except (OSError, zipfile.BadZipFile, ValueError) as e:
        raise ReviewError(f"cannot read the bundle {bundle_path}: {e}") from None
    outcome = Outcome()
    _check_chain(outcome, segment, key, _head(outcome, head))
    if outcome.needs_key:
        return outcome
    _check_records(outcome, records, segment, manifest)
    _check_served(outcome, records, served, manifest)
    return outcome


def _head(outcome: Outcome, data: bytes | None) -> Head | None:
    if data is None:
        return None
    try:
        raw = json.loads(data)
        return Head(int(raw["sequence"]), str(raw["digest"]), str(raw.get("alg", "sha256")))
    except (ValueError, KeyError, TypeError):
        outcome.fail(f"{HEAD} is not a chain head")
        return None


def _check_chain(
    outcome: Outcome, segment: list[bytes], key: bytes | None, head: Head | None
) -> None:
    lines = ((Path(SEGMENT), n, raw) for n, raw in enumerate(segment, 1))
    result = verify_lines(lines, key, head)
    if result.needs_key:
        outcome.ok, outcome.needs_key = False, True
        outcome.problems.append(f"{result.problem}")
        return
    if not result.ok:
        outcome.fail(f"chain segment broken at line {result.line}: {result.problem}")
        return
    first = json.loads(segment[0]) if segment else {}
    anchor = ((first.get("optout") or {}).get("chain") or {}).get("prev")
    last = digest(segment[-1], key if _keyed(first) else None) if segment else None
    outcome.facts.append(
        f"chain segment intact: records {result.first_sequence} to {result.last_sequence} "
        f"({result.records} lines){', and it matches the chain head' if head else ''}"
    )
    outcome.facts.append(f"anchor (prev of the segment's first line): {anchor}")
    outcome.facts.append(f"digest of the segment's last line: {last}")


def _keyed(record: dict[str, Any]) -> bool:
    return ((record.get("optout") or {}).get("chain") or {}).get("alg") == HMAC_SHA256


def _check_records(
    outcome: Outcome, records: list[bytes], segment: list[bytes], manifest: dict[str, Any]
) -> None:
    position = {line: n for n, line in enumerate(segment, 1)}
    last = 0
    for n, line in enumerate(records, 1):
        where = position.get(line)
        if where is None:
            outcome.fail(f"{RECORDS} line {n} is not in the chain segment: it was changed or added")
        elif where <= last:
            outcome.fail(f"{RECORDS} line {n} is out of order or repeated")
        else:
            last = where
            agent = (json.loads(line).get("optout") or {}).get("agent")
            if agent != manifest.get("agent"):
                outcome.fail(
                    f"{RECORDS} line {n} is a record of {agent!r}, not of the bundle's agent"
                )
    if len(records) != manifest.get("records"):
        outcome.fail(
            f"{RECORDS} has {len(records)} records, the manifest says {manifest.get('records')}"
        )
    outcome.facts.append(
        f"{len(records)} record(s) of {manifest.get('agent')} checked against the segment"
    )


def _check_served(
    outcome: Outcome, records: list[bytes], served: dict[str, bytes], manifest: dict[str, Any]
) -> None:
    for name, body in sorted(served.items()):
        if hashlib.sha256(body).hexdigest() != name:
            outcome.fail(f"{SERVED}{name} was altered: its content has a different SHA-256")
    named = set()
    for line in records:
        doc = (json.loads(line).get("optout") or {}).get("served") or {}
        if isinstance(doc.get("sha256"), str):
            named.add(doc["sha256"])
    for sha in sorted(named - set(served)):
        note = (manifest.get("missing_served") or {}).get(sha)
        if note is None:
            outcome.fail(f"served document {sha} named by a record is missing from the bundle")
        else:
            outcome.facts.append(f"served document {sha} was not kept by the proxy ({note})")
    outcome.facts.append(f"{len(served)} served document(s) match their SHA-256")
