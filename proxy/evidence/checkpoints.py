"""Checkpoints: the chain head, timestamped by TSAs and signed by the label, in the chain.

Every few minutes the proxy writes a `checkpoint` record naming the chain head
(the sequence and digest of the newest line written). The statement below is
what the TSAs timestamp (its SHA-256) and the label's key signs, so a third
party can check "the line with this sequence had this digest at that time"
without the HMAC secret. A checkpoint whose TSAs all failed is still written,
with `optout.checkpoint.gap`: the log then says itself that trusted time is
missing there, which `optout logs verify` reports as a gap, not as tampering.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from proxy.evidence.chain import Head
from proxy.evidence.record import ECS_VERSION

ACTION = "checkpoint"
TOKENS_DIR = "timestamps"


def statement(head: Head) -> bytes:
    """The exact bytes timestamped and signed for `head`: plain text a person can read."""
    return (
        "optout-proxy checkpoint v1\n"
        f"sequence {head.sequence}\nalg {head.alg}\ndigest {head.digest}\n"
    ).encode("ascii")


def imprint(head: Head) -> bytes:
    return hashlib.sha256(statement(head)).digest()


@dataclass(frozen=True, slots=True)
class Stamp:
    tsa: str  # the URL asked
    token_sha256: str  # the DER token's file name in <state>/timestamps/
    time: datetime
    serial: int


@dataclass(frozen=True, slots=True)
class Failure:
    tsa: str
    error: str
    attempts: int


def record(
    head: Head,
    stamps: Sequence[Stamp],
    failures: Sequence[Failure],
    signature: Mapping[str, Any] | None,
    now: float,
) -> dict[str, Any]:
    """The checkpoint record for the log writer to chain."""
    gap = bool(failures) and not stamps
    checkpoint: dict[str, Any] = {"sequence": head.sequence, "digest": head.digest, "alg": head.alg}
    if stamps:
        checkpoint["timestamps"] = [
            {
                "tsa": s.tsa,
                "token_sha256": s.token_sha256,
                "time": _iso(s.time),
                "serial": str(s.serial),
            }
            for s in stamps
        ]
    if failures:
        checkpoint["failures"] = [
            {"tsa": f.tsa, "error": f.error, "attempts": f.attempts} for f in failures
        ]
    if gap:
        checkpoint["gap"] = True
    if signature is not None:
        checkpoint["signature"] = dict(signature)
    told = "no trusted time: every TSA failed" if gap else f"{len(stamps)} timestamp(s)"
    return {
        "@timestamp": _iso(datetime.fromtimestamp(now, UTC)),
        "ecs": {"version": ECS_VERSION},
        "event": {
            "kind": "event",
            "category": ["configuration"],
            "type": ["info"],
            "action": ACTION,
            "outcome": "failure" if gap else "success",
        },
        "message": f"checkpoint of record {head.sequence}: {told}",
        "optout": {"checkpoint": checkpoint},
    }


def head_of(checkpoint: Mapping[str, Any]) -> Head:
    """The head a checkpoint names; ValueError if it names none."""
    try:
        return Head(int(checkpoint["sequence"]), str(checkpoint["digest"]), str(checkpoint["alg"]))
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"not a checkpoint: {e}") from None


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class Seen:
    """The checkpoints a pass over the log met: how many, which lacked trusted time."""

    count: int = 0
    timestamped: int = 0
    signed: int = 0
    last_time: str | None = None  # of the newest timestamp
    gaps: list[str] = field(default_factory=list)  # one line each, for `logs verify`


_NEEDLE = b'"action":"' + ACTION.encode() + b'"'


def watch(
    lines: Iterable[tuple[Path, int, bytes]], seen: Seen
) -> Iterator[tuple[Path, int, bytes]]:
    """Pass `lines` through unchanged, noting the checkpoint records among them."""
    for item in lines:
        if _NEEDLE in item[2]:
            _note(seen, item[0], item[1], item[2])
        yield item


def _note(seen: Seen, file: Path, number: int, raw: bytes) -> None:
    try:
        point = json.loads(raw)["optout"]["checkpoint"]
    except (ValueError, KeyError, TypeError):
        return  # a damaged line: the chain check names it
    if not isinstance(point, dict):
        return
    seen.count += 1
    seen.signed += "signature" in point
    stamps = point.get("timestamps") or []
    if stamps:
        seen.timestamped += 1
        seen.last_time = str(stamps[-1].get("time"))
    if point.get("gap"):
        failures = "; ".join(
            f"{f.get('tsa')}: {f.get('error')}" for f in point.get("failures") or []
        )
        seen.gaps.append(
            f"timestamp gap: the checkpoint of record {point.get('sequence')} "
            f"({file.name}:{number}) has no trusted time, every TSA failed ({failures}); "
            "the records are intact, only their time is not attested there"
        )
