"""`optout evidence verify BUNDLE`: re-check an evidence bundle with nothing but the bundle.

Checks: every file against the manifest's SHA-256 (naming any altered, missing
or added file); the chain segment is intact (each line's `optout.chain.prev` is
the digest of the line before, sequences consecutive, log-gap records allowed;
the first line's prev is the anchor) and matches the chain head when there is
one; every matching record is, byte for byte, a line of the segment; every
reservation document and header set has the SHA-256 it is filed under; and the
checkpoints in the segment (proxy.review.bundle_proof): signatures with the
label's public key, RFC 3161 tokens with the TSA chain. Reads a zip as written,
a re-zipped copy, or the unpacked directory (proxy.review.bundle_read).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proxy.evidence.chain import HMAC_SHA256, Head, digest
from proxy.evidence.chainverify import verify_lines
from proxy.review import bundle_proof
from proxy.review.bundle_read import altered, read_bundle
from proxy.review.bundle_statement import statement
from proxy.review.evidence import HEAD, HEADERSETS, MANIFEST, RECORDS, SEGMENT, SERVED
from proxy.review.files import ReviewError


@dataclass(slots=True)
class Outcome:
    ok: bool = True
    needs_key: bool = False
    problems: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)
    statement: str = ""

    def fail(self, problem: str) -> None:
        self.ok = False
        self.problems.append(problem)


def verify(bundle_path: Path, key: bytes | None) -> Outcome:
    """Every check on the bundle at `bundle_path`; ReviewError if it is not a bundle."""
    files = read_bundle(bundle_path)
    missing = {RECORDS, SEGMENT, MANIFEST} - set(files)
    if missing:
        raise ReviewError(f"{bundle_path}: not an evidence bundle (no {sorted(missing)})")
    try:
        manifest = json.loads(files[MANIFEST])
    except ValueError:
        raise ReviewError(f"{bundle_path}: {MANIFEST} is not JSON: it was altered") from None
    outcome = Outcome()
    if "files" in manifest:
        for problem in altered(files, manifest["files"]):
            outcome.fail(problem)
    segment = files[SEGMENT].splitlines()
    records = files[RECORDS].splitlines()
    _check_chain(outcome, segment, key, _head(outcome, files.get(HEAD)))
    if outcome.needs_key:
        return outcome
    _check_records(outcome, records, segment, manifest)
    _check_kept(outcome, records, files, manifest, SERVED, "served")
    _check_kept(outcome, records, files, manifest, HEADERSETS, "headers_served")
    proof = bundle_proof.check(files, segment, key, manifest)
    for problem in proof.problems:
        outcome.fail(problem)
    outcome.facts.extend(proof.facts)
    outcome.facts.append(
        f"{proof.signed} checkpoint signature(s) and {len(proof.attested)} RFC 3161 "
        "timestamp(s) verified"
    )
    if outcome.ok:
        outcome.statement = statement(records, files, proof)
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
    agent = manifest.get("agent")
    for n, line in enumerate(records, 1):
        where = position.get(line)
        if where is None:
            outcome.fail(f"{RECORDS} line {n} is not in the chain segment: it was changed or added")
        elif where <= last:
            outcome.fail(f"{RECORDS} line {n} is out of order or repeated")
        else:
            last = where
            found = (json.loads(line).get("optout") or {}).get("agent")
            if agent is not None and found != agent:
                outcome.fail(f"{RECORDS} line {n} is a record of {found!r}, not of {agent!r}")
    if len(records) != manifest.get("records"):
        outcome.fail(
            f"{RECORDS} has {len(records)} records, the manifest says {manifest.get('records')}"
        )
    outcome.facts.append(f"{len(records)} record(s) checked against the segment")


def _check_kept(
    outcome: Outcome,
    records: list[bytes],
    files: dict[str, bytes],
    manifest: dict[str, Any],
    prefix: str,
    field_name: str,
) -> None:
    kept = {n[len(prefix) :]: body for n, body in files.items() if n.startswith(prefix)}
    for name, body in sorted(kept.items()):
        if hashlib.sha256(body).hexdigest() != name:
            outcome.fail(f"{prefix}{name} was altered: its content has a different SHA-256")
    named = set()
    for line in records:
        doc = (json.loads(line).get("optout") or {}).get(field_name) or {}
        if isinstance(doc, dict) and isinstance(doc.get("sha256"), str):
            named.add(doc["sha256"])
    missing_key = "missing_served" if prefix == SERVED else "missing_headersets"
    what = "served document" if prefix == SERVED else "reservation header set"
    for sha in sorted(named - set(kept)):
        note = (manifest.get(missing_key) or {}).get(sha)
        if note is None:
            outcome.fail(f"{what} {sha} named by a record is missing from the bundle")
        else:
            outcome.facts.append(f"{what} {sha} was not kept by the proxy ({note})")
    if named or kept:
        outcome.facts.append(f"{len(kept)} {what}(s) match their SHA-256")
