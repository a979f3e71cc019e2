"""`optout evidence`: one agent's records, with the proof that they belong to an intact log.

The bundle (a zip) holds the matching records; the chain segment they sit in
(every line of the log from the record before the first match through the
record after the last one, so each matching line is pinned by a digest on both
sides); the chain head when the segment reaches the log's end; each robots.txt,
tdmrep.json and ai.txt version the records were served, from the state dir; the
agent's summary; a manifest and a README. bundle_verify re-checks all of it.
The log is read once, streaming: the segment goes to a temporary file, not memory.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import IO, Any

from proxy import __version__
from proxy.evidence.chain import HEAD_FILE, SHA256
from proxy.evidence.logfiles import iter_lines
from proxy.review.files import ReviewError, in_window, progress
from proxy.review.summary import summarise
from proxy.store.documents import DocumentStore

RECORDS, SEGMENT, MANIFEST, SUMMARY, README, HEAD = (
    "records.jsonl", "chain-segment.jsonl", "manifest.json", "summary.json", "README.txt",
    "chain-head.json",
)  # fmt: skip
SERVED = "served/"


@dataclass(frozen=True, slots=True)
class Request:
    agent: str
    since: str | None = None
    until: str | None = None


@dataclass(slots=True)
class _Scan:
    """What one pass over the log found."""

    records: IO[bytes]
    segment: IO[bytes]
    count: int = 0
    end: int = 0  # segment bytes to keep: through the successor of the last match
    pending: bool = False  # the last line written was a match: the next one is its successor
    at_end: bool = True  # the segment reaches the log's last line
    spans: dict[str, list[int]] = field(default_factory=dict)  # file -> first, last line
    kept: dict[str, list[int]] = field(default_factory=dict)  # spans as of `end`
    served: dict[str, str] = field(default_factory=dict)  # sha256 -> kind
    sequences: list[int] = field(default_factory=list)
    alg: str = SHA256


def build(files: Sequence[Path], want: Request, out: Path, state: Path) -> dict[str, Any]:
    """Write the bundle to `out`; returns its manifest."""
    with tempfile.TemporaryFile() as records, tempfile.TemporaryFile() as segment:
        scan = _scan(files, want, _Scan(records, segment))
        if not scan.count:
            raise ReviewError(f"no records of agent '{want.agent}' in the given time window")
        segment.truncate(scan.end)
        manifest = _manifest(files, want, scan)
        summary = summarise(files, want.since, want.until, agent=want.agent).as_json()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
            bundle.writestr(README, readme())
            for name, tmp in ((RECORDS, records), (SEGMENT, segment)):
                tmp.seek(0)
                with bundle.open(name, "w") as target:
                    while chunk := tmp.read(1 << 20):
                        target.write(chunk)
            bundle.writestr(SUMMARY, json.dumps(summary, indent=2) + "\n")
            _add_documents(bundle, DocumentStore(state), scan, manifest)
            _add_head(bundle, state, scan, manifest)
            bundle.writestr(MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return manifest


def _scan(files: Sequence[Path], want: Request, scan: _Scan) -> _Scan:
    needle = b'"agent":' + json.dumps(want.agent).encode()
    before: tuple[Path, int, bytes] | None = None
    for path, number, raw in progress(iter_lines(files), "evidence"):
        match = needle in raw and _matches(json.loads(raw), want, scan)
        if match and not scan.count and before is not None:
            _segment_line(scan, *before)
        if match or scan.count:
            _segment_line(scan, path, number, raw)
            if scan.pending:
                scan.end, scan.pending = scan.segment.tell(), False
                scan.kept = {k: list(v) for k, v in scan.spans.items()}
        if match:
            scan.count += 1
            scan.records.write(raw + b"\n")
            scan.end, scan.pending = scan.segment.tell(), True
            scan.kept = {k: list(v) for k, v in scan.spans.items()}
        elif not scan.count:
            before = (path, number, raw)
    scan.at_end = scan.pending  # nothing followed the last match: it is the log's last line
    return scan


def _matches(record: Any, want: Request, scan: _Scan) -> bool:
    optout = record.get("optout") or {}
    if optout.get("agent") != want.agent or not in_window(
        record.get("@timestamp"), want.since, want.until
    ):
        return False
    served = optout.get("served")
    if isinstance(served, dict) and isinstance(served.get("sha256"), str):
        scan.served[served["sha256"]] = str(served.get("kind"))
    scan.sequences.append(int((record.get("event") or {}).get("sequence") or 0))
    scan.alg = str((optout.get("chain") or {}).get("alg") or SHA256)
    return True


def _segment_line(scan: _Scan, path: Path, number: int, raw: bytes) -> None:
    span = scan.spans.setdefault(path.name, [number, number])
    span[1] = number
    scan.segment.write(raw + b"\n")


def _manifest(files: Sequence[Path], want: Request, scan: _Scan) -> dict[str, Any]:
    return {
        "tool": f"optout-proxy {__version__}",
        "created": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "agent": want.agent,
        "since": want.since,
        "until": want.until,
        "records": scan.count,
        "record_sequences": [min(scan.sequences), max(scan.sequences)],
        "chain_alg": scan.alg,
        "segment_sources": [
            {"file": name, "first_line": a, "last_line": b} for name, (a, b) in scan.kept.items()
        ],
        "segment_reaches_log_end": scan.at_end,
        "log_files": [f.name for f in files],
        "served": {},
        "missing_served": {},
        "chain_head": None,
    }


def _add_documents(
    bundle: zipfile.ZipFile, store: DocumentStore, scan: _Scan, manifest: dict[str, Any]
) -> None:
    for sha, kind in sorted(scan.served.items()):
        try:
            bundle.writestr(SERVED + sha, store.get(sha))
            manifest["served"][sha] = kind
        except (KeyError, ValueError) as e:
            manifest["missing_served"][sha] = f"{kind}: {e}"


def _add_head(bundle: zipfile.ZipFile, state: Path, scan: _Scan, manifest: dict[str, Any]) -> None:
    """The chain head pins the segment's last line when nothing in the log follows it."""
    head = state / HEAD_FILE
    if scan.at_end and head.is_file():
        bundle.writestr(HEAD, head.read_bytes())
        manifest["chain_head"] = HEAD


def readme() -> str:
    return resources.files("proxy.review").joinpath("bundle-readme.txt").read_text("utf-8")
