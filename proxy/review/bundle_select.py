"""Which records an evidence bundle holds, and the stretch of the chain that proves them.

One streaming pass over the log. The segment runs from the record before the
first match through the record after the last one, so each matching line is
pinned by a digest on both sides, and on to the first checkpoint that names a
record at or after the last match: that checkpoint's timestamps and signature
then cover every matching record. Lines go to a temporary file, not to memory.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from proxy.evidence.chain import SHA256
from proxy.evidence.checkpoints import ACTION as CHECKPOINT
from proxy.evidence.logfiles import iter_blocks, loads
from proxy.review.files import ReviewError, in_window
from proxy.review.progress import files_read


@dataclass(frozen=True, slots=True)
class Request:
    """Whose records: one agent, one operator, one network, or the flagged requests."""

    agent: str | None = None
    since: str | None = None
    until: str | None = None
    operator: str | None = None
    ip: str | None = None  # an address or a network, 203.0.113.0/24
    flagged: bool = False

    def describe(self) -> str:
        if self.agent is not None:
            return f"agent '{self.agent}'"
        if self.operator is not None:
            return f"operator '{self.operator}'"
        if self.ip is not None:
            return f"address {self.ip}"
        return "flagged requests"

    def needle(self) -> bytes | None:
        """Bytes every matching line contains: a cheap test before parsing."""
        if self.agent is not None:
            return b'"agent":' + json.dumps(self.agent).encode()
        if self.operator is not None:
            return b'"operator":' + json.dumps(self.operator).encode()
        return b'"flagged":' if self.flagged else None


def check_request(want: Request) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    chosen = [want.agent, want.operator, want.ip, want.flagged or None]
    if sum(c is not None for c in chosen) != 1:
        raise ReviewError("evidence needs exactly one of --agent, --operator, --ip, --flagged")
    if want.ip is None:
        return None
    try:
        return ipaddress.ip_network(want.ip, strict=False)
    except ValueError:
        raise ReviewError(f"--ip {want.ip!r} is not an address or a network") from None


@dataclass(slots=True)
class Scan:
    """What one pass over the log found."""

    records: IO[bytes]
    segment: IO[bytes]
    count: int = 0
    end: int = 0  # segment bytes to keep
    pending: bool = False  # the last line written was a match: the next one is its successor
    sealed: bool = False  # a checkpoint after the last match covers it
    last_match: int = 0
    at_end: bool = True  # the segment reaches the log's last line
    spans: dict[str, list[int]] = field(default_factory=dict)  # file -> first, last line
    kept: dict[str, list[int]] = field(default_factory=dict)  # spans as of `end`
    served: dict[str, str] = field(default_factory=dict)  # sha256 -> kind
    headersets: set[str] = field(default_factory=set)
    sequences: list[int] = field(default_factory=list)
    alg: str = SHA256

    def keep(self) -> None:
        self.end = self.segment.tell()
        self.kept = {k: list(v) for k, v in self.spans.items()}


def scan(files: Sequence[Path], want: Request, out: Scan) -> Scan:
    network = check_request(want)
    needle = want.needle()
    walk = _Lines(want, network, out)
    for path in files_read(files, "evidence"):
        number = 0
        for block in iter_blocks(path):
            if needle is None:
                for raw in block.split(b"\n"):
                    number += 1
                    walk.line(path, number, raw)
                continue
            # Only the lines holding the needle are decoded; the runs of lines between
            # them go to the segment whole.
            pos = 0
            while (hit := block.find(needle, pos)) >= 0:
                start = block.rfind(b"\n", pos, hit) + 1 if hit > pos else pos
                start = max(start, pos)
                if start > pos:
                    number = walk.bulk(path, number, block[pos : start - 1])
                end = block.find(b"\n", hit)
                end = len(block) if end < 0 else end
                number += 1
                walk.line(path, number, block[start:end])
                pos = end + 1
            if pos <= len(block):
                number = walk.bulk(path, number, block[pos:])
    out.at_end = out.pending  # nothing followed the last match: it is the log's last line
    return out


class _Lines:
    """The scan, line by line, and for a run of lines none of which can match."""

    def __init__(self, want: Request, network: Any, out: Scan) -> None:
        self.want, self.network, self.out = want, network, out
        self.needle = want.needle()
        self.before: tuple[Path, int, bytes] | None = None

    def line(self, path: Path, number: int, raw: bytes) -> None:
        out, needle = self.out, self.needle
        match = (needle is None or needle in raw) and _matches(
            loads(raw), self.want, self.network, out
        )
        if match and not out.count and self.before is not None:
            _segment_line(out, *self.before)
        if match or out.count:
            _segment_line(out, path, number, raw)
            if out.pending:
                out.pending = False
                out.keep()
            elif not out.sealed and not match and _covers(raw, out.last_match):
                out.sealed = True
                out.keep()
        if match:
            out.count += 1
            out.records.write(raw + b"\n")
            out.pending, out.sealed = True, False
            out.keep()
        elif not out.count:
            self.before = (path, number, raw)

    def bulk(self, path: Path, number: int, run: bytes) -> int:
        """The lines after line `number` (joined by newlines), none a match: kept, or
        written to the segment at once. Returns the number of the run's last line."""
        out = self.out
        if not out.count:
            count = run.count(b"\n") + 1
            self.before = (path, number + count, run.rpartition(b"\n")[2])
            return number + count
        if out.pending:  # the successor of a match: it closes the match's proof
            first, newline, run = run.partition(b"\n")
            number += 1
            self.line(path, number, first)
            if not newline:
                return number
        if not out.sealed and _CHECKPOINT in run:  # a checkpoint may seal the matches
            for raw in run.split(b"\n"):
                number += 1
                self.line(path, number, raw)
            return number
        count = run.count(b"\n") + 1
        span = out.spans.setdefault(path.name, [number + 1, number + 1])
        span[1] = number + count
        out.segment.write(run + b"\n")
        return number + count


_CHECKPOINT = b'"action":"' + CHECKPOINT.encode() + b'"'


def _covers(raw: bytes, sequence: int) -> bool:
    if _CHECKPOINT not in raw:
        return False
    try:
        named = loads(raw)["optout"]["checkpoint"]["sequence"]
    except (ValueError, KeyError, TypeError):
        return False
    return isinstance(named, int) and named >= sequence


def _matches(record: Any, want: Request, network: Any, out: Scan) -> bool:
    optout = record.get("optout") or {}
    if not in_window(record.get("@timestamp"), want.since, want.until):
        return False
    if want.agent is not None and optout.get("agent") != want.agent:
        return False
    if want.operator is not None and optout.get("operator") != want.operator:
        return False
    if want.flagged and not optout.get("flagged"):
        return False
    if network is not None and not _in(network, (record.get("source") or {}).get("ip")):
        return False
    if (record.get("event") or {}).get("action") == CHECKPOINT:
        return False
    served = optout.get("served")
    if isinstance(served, dict) and isinstance(served.get("sha256"), str):
        out.served[served["sha256"]] = str(served.get("kind"))
    headers = optout.get("headers_served")
    if isinstance(headers, dict) and isinstance(headers.get("sha256"), str):
        out.headersets.add(headers["sha256"])
    out.last_match = int((record.get("event") or {}).get("sequence") or 0)
    out.sequences.append(out.last_match)
    out.alg = str((optout.get("chain") or {}).get("alg") or SHA256)
    return True


def _in(network: Any, ip: object) -> bool:
    try:
        return ipaddress.ip_address(str(ip)) in network
    except ValueError:
        return False


def _segment_line(out: Scan, path: Path, number: int, raw: bytes) -> None:
    span = out.spans.setdefault(path.name, [number, number])
    span[1] = number
    out.segment.write(raw + b"\n")
