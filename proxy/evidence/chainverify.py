"""Verification of the access log's hash chain (`verify_lines`).

One pass over the lines in chain order, keeping only the previous record and
one record of look-ahead. The look-ahead is what lets a failure name the record
that was tampered with rather than its innocent neighbour: when record k+1 does
not link to record k but record k+2 links to k+1, it is record k that changed;
when a sequence number jumps, a later record with a number in between means the
records were reordered, not removed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proxy.evidence.chain import (
    GAP_ACTION,
    GENESIS,
    HEX64,
    HMAC_SHA256,
    SHA256,
    Head,
    digest,
)
from proxy.evidence.logfiles import LogReadError, loads


@dataclass(frozen=True, slots=True)
class Gap:
    """Records the writer could not write, as its log-gap record tells."""

    first_sequence: int
    last_sequence: int
    lost: int
    file: Path
    line: int


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    records: int
    first_sequence: int | None = None
    last_sequence: int | None = None
    gaps: tuple[Gap, ...] = ()
    # On failure: the first record that was changed, removed, inserted or reordered.
    file: Path | None = None
    line: int | None = None
    sequence: int | None = None
    problem: str | None = None
    needs_key: bool = False  # the log is keyed and no key was given: nothing was proven


@dataclass(frozen=True, slots=True)
class _Entry:
    file: Path
    line: int
    raw: bytes
    sequence: int
    prev: str
    alg: str
    gap: Gap | None

    @property
    def where(self) -> str:
        return f"{self.file.name}:{self.line}"


class _Broken(Exception):
    def __init__(self, problem: str, file: Path | None, line: int | None, seq: int | None) -> None:
        super().__init__(problem)
        self.problem, self.file, self.line, self.sequence = problem, file, line, seq


class _NeedsKey(_Broken):
    pass


def _broken(entry: _Entry, problem: str) -> _Broken:
    return _Broken(problem, entry.file, entry.line, entry.sequence)


def _parse(file: Path, line: int, raw: bytes) -> _Entry:
    where = f"{file.name}:{line}"
    try:
        record = loads(raw)
        sequence, chain = record["event"]["sequence"], record["optout"]["chain"]
        prev, alg = chain["prev"], chain.get("alg", SHA256)
    except ValueError:
        raise _Broken(
            f"{where} is not a JSON record: it was changed or cut short", file, line, None
        ) from None
    except (KeyError, TypeError, AttributeError):
        problem = f"{where} has no event.sequence or optout.chain: it is not a chained record"
        raise _Broken(problem, file, line, None) from None
    valid = type(sequence) is int and sequence > 0 and isinstance(prev, str)
    if not valid or not HEX64.fullmatch(prev) or alg not in (SHA256, HMAC_SHA256):
        raise _Broken(f"{where} has a malformed event.sequence or optout.chain", file, line, None)
    return _Entry(file, line, raw, sequence, prev, alg, _gap(record, file, line, sequence))


def _gap(record: dict[str, Any], file: Path, line: int, sequence: int) -> Gap | None:
    if record["event"].get("action") != GAP_ACTION:
        return None
    gap = record["optout"].get("gap")
    try:
        first, last, lost = gap["first_sequence"], gap["last_sequence"], gap["lost"]
    except (KeyError, TypeError):
        return None
    if not all(type(n) is int for n in (first, last, lost)):
        return None
    if lost != last - first + 1 or last + 1 != sequence:
        return None
    return Gap(first, last, lost, file, line)


def verify_lines(
    lines: Iterable[tuple[Path, int, bytes]], key: bytes | None, head: Head | None = None
) -> VerifyResult:
    """Check the chain over `lines` (in chain order) and, if given, against the head.

    The result names the first record that was changed, removed, inserted or
    reordered, and lists the gaps the writer recorded.
    """
    walk = _Walk(iter(lines), key, head)
    try:
        walk.run()
        if head is not None:
            walk.check_head(head)
    except _Broken as e:
        return walk.result(e)
    except LogReadError as e:
        return walk.result(_Broken(str(e), e.file, e.line, None))
    return walk.result(None)


class _Walk:
    """One pass over the log, with one record of look-ahead to name the right culprit."""

    def __init__(
        self, lines: Iterator[tuple[Path, int, bytes]], key: bytes | None, head: Head | None
    ) -> None:
        self.lines, self.key, self.head = lines, key, head
        self.pending: _Entry | None = None
        self.last: _Entry | None = None
        self.first: int | None = None
        self.records = self.links = 0
        self.gaps: list[Gap] = []

    def result(self, broken: _Broken | None) -> VerifyResult:
        last = self.last.sequence if self.last else None
        if broken is None:
            return VerifyResult(True, self.records, self.first, last, tuple(self.gaps))
        return VerifyResult(
            False,
            self.records,
            self.first,
            last,
            tuple(self.gaps),
            broken.file,
            broken.line,
            broken.sequence,
            broken.problem,
            isinstance(broken, _NeedsKey),
        )

    def next(self) -> _Entry | None:
        if self.pending is not None:
            entry, self.pending = self.pending, None
            return entry
        for file, line, raw in self.lines:
            return _parse(file, line, raw)
        return None

    def peek(self) -> _Entry | None:
        if self.pending is None:
            try:
                self.pending = self.next()
            except _Broken:
                return None
        return self.pending

    def run(self) -> None:
        while (entry := self.next()) is not None:
            self.check(entry)
            if entry.gap is not None:
                self.gaps.append(entry.gap)
            if self.first is None:  # a log-gap record first: the log starts at its first loss
                self.first = entry.gap.first_sequence if entry.gap else entry.sequence
            self.records += 1
            self.last = entry

    def check(self, e: _Entry) -> None:
        self.check_alg(e)
        p = self.last
        if p is None:
            start = e.gap.first_sequence if e.gap else e.sequence
            if start == 1 and e.prev != GENESIS:
                raise _broken(
                    e,
                    f"record {e.sequence} ({e.where}) starts the chain, "
                    "but its prev is not the genesis value",
                )
        elif e.sequence == p.sequence + 1 or (e.gap and e.gap.first_sequence == p.sequence + 1):
            self.check_link(p, e)
        elif e.sequence == p.sequence:
            inserted = p if self.followed(e) else e
            raise _broken(
                inserted,
                f"sequence {e.sequence} appears twice ({p.where} and "
                f"{e.where}): the record at {inserted.where} was inserted",
            )
        elif e.sequence < p.sequence:
            raise _broken(
                e,
                f"record {e.sequence} ({e.where}) comes after record "
                f"{p.sequence}: records were reordered",
            )
        else:
            self.jump(p, e)

    def check_alg(self, e: _Entry) -> None:
        if self.key is None and e.alg == HMAC_SHA256:
            raise _NeedsKey(
                f"record {e.sequence} ({e.where}) is chained with HMAC-SHA256: give the key "
                "(--key-file, OPTOUT_LOG_HMAC_KEY_FILE or OPTOUT_LOG_HMAC_KEY) to verify it",
                e.file,
                e.line,
                e.sequence,
            )
        if self.key is not None and e.alg == SHA256:
            raise _broken(
                e,
                f"record {e.sequence} ({e.where}) is not keyed (alg sha256) "
                "although a key was given: written without it, or rewritten",
            )

    def check_link(self, p: _Entry, e: _Entry) -> None:
        if e.prev == digest(p.raw, self.key):
            self.links += 1
            return
        if self.followed(e):  # e's line is intact, so p's is not
            raise _broken(
                p,
                f"record {p.sequence} ({p.where}) was changed: "
                f"record {e.sequence} ({e.where}) does not link to it",
            )
        if self.key is not None and self.links == 0:
            raise _broken(
                e,
                f"HMAC mismatch at record {e.sequence} ({e.where}): "
                "wrong key or the log was rewritten",
            )
        raise _broken(
            e,
            f"record {e.sequence} ({e.where}) does not follow record "
            f"{p.sequence}: its prev does not match",
        )

    def followed(self, e: _Entry) -> bool:
        """Whether the next record (or the head, at the end) vouches for e's line as it is."""
        after = self.peek()
        if after is not None:
            return after.prev == digest(e.raw, self.key)
        head = self.head
        return (
            head is not None and head.sequence == e.sequence and head.digest == self._head_digest(e)
        )

    def jump(self, p: _Entry, e: _Entry) -> None:
        while (later := self.peek()) is not None:
            self.pending = None
            if p.sequence < later.sequence < e.sequence:
                raise _broken(
                    e,
                    f"records were reordered: record {e.sequence} ({e.where}) "
                    f"comes before record {later.sequence} ({later.where})",
                )
        missing = p.sequence + 1
        what = (
            f"record {missing} is"
            if e.sequence == missing + 1
            else (f"records {missing} to {e.sequence - 1} are")
        )
        raise _broken(
            e, f"sequence jumps from {p.sequence} to {e.sequence} at {e.where}: {what} missing"
        )

    def check_head(self, head: Head) -> None:
        last = self.last
        if head.alg == HMAC_SHA256 and self.key is None:
            raise _NeedsKey(
                "the chain head is keyed with HMAC-SHA256: give the key", None, None, None
            )
        if last is None or last.sequence < head.sequence:
            end = f"ends at record {last.sequence}" if last else "has no records"
            raise _Broken(
                f"log {end} but the chain head says {head.sequence}: "
                "records were removed from the end",
                last.file if last else None,
                last.line if last else None,
                (last.sequence if last else 0) + 1,
            )
        if last.sequence > head.sequence:
            raise _broken(
                last,
                f"the log goes on to record {last.sequence} but the chain head "
                f"says {head.sequence}: the head file is older than the log",
            )
        if head.digest != self._head_digest(last):
            raise _broken(
                last,
                f"record {last.sequence} ({last.where}), the last, does not "
                "match the chain head: it was changed",
            )

    def _head_digest(self, e: _Entry) -> str:
        head = self.head
        return digest(e.raw, self.key if head is not None and head.alg == HMAC_SHA256 else None)
