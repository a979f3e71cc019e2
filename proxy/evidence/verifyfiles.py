"""`verify_files`: the chain check of proxy.evidence.chainverify, one file per core.

Rotated files are independent stretches of one chain: each file's first record
links to the previous file's last line. So each file's internal chain is checked
in its own process (hashing and decoding a million lines takes one core about
twenty seconds), and the parent then checks each join with the same rules. When
anything fails, the whole log is walked again in one pass: the sequential walk's
look-ahead is what names the record that was tampered with, and a failure is
rare enough to pay for it twice. The verdict is always the sequential one's.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path

from proxy.evidence.chain import Head
from proxy.evidence.chainverify import VerifyResult, _Broken, _Entry, _parse, _Walk, verify_lines
from proxy.evidence.checkpoints import Seen, watch
from proxy.evidence.logfiles import iter_lines


@dataclass(frozen=True, slots=True)
class _Part:
    """One file checked alone: its verdict, its ends and its checkpoints."""

    result: VerifyResult
    first: _Entry | None
    last: _Entry | None
    seen: Seen


def verify_files(
    files: Sequence[Path],
    key: bytes | None,
    head: Head | None = None,
    seen: Seen | None = None,
    *,
    processes: int | None = None,
    done: Callable[[Path], None] | None = None,
) -> VerifyResult:
    """What `verify_lines(watch(iter_lines(files), seen), key, head)` answers, faster.

    `done` is called with each file once it is checked (a progress bar)."""
    seen = seen if seen is not None else Seen()
    done = done or (lambda path: None)
    workers = min(processes or os.cpu_count() or 1, len(files))
    # fork is what keeps a child cheap; it is unsafe in a process running threads.
    if workers > 1 and threading.active_count() == 1:
        jobs = [(f, key, head if i == len(files) - 1 else None) for i, f in enumerate(files)]
        parts = []
        with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool:
            for path, part in zip(
                files, pool.map(_check_file, *zip(*jobs, strict=True)), strict=True
            ):
                parts.append(part)
                done(path)
        joined = _join(parts, key)
        if joined is not None:
            _merge_seen(seen, parts)
            return joined
        done = lambda path: None  # noqa: E731 - every file was counted done once already
    return verify_lines(watch(_lines(files, done), seen), key, head)


def _lines(
    files: Sequence[Path], done: Callable[[Path], None]
) -> Iterator[tuple[Path, int, bytes]]:
    for path in files:
        yield from iter_lines([path])
        done(path)


def _check_file(path: Path, key: bytes | None, head: Head | None) -> _Part:
    seen = Seen()
    ends: list[tuple[Path, int, bytes]] = []

    def lines() -> Iterator[tuple[Path, int, bytes]]:
        item = None
        for item in iter_lines([path]):
            if not ends:
                ends.append(item)
            yield item
        if item is not None:
            ends.append(item)

    result = verify_lines(watch(lines(), seen), key, head)
    if not (result.ok and len(ends) == 2):
        return _Part(result, None, None, seen)
    return _Part(result, _parse(*ends[0]), _parse(*ends[1]), seen)


def _join(parts: Sequence[_Part], key: bytes | None) -> VerifyResult | None:
    """The whole log's verdict if every file and every join holds, else None."""
    if not parts or not all(p.result.ok for p in parts):
        return None
    kept = [p for p in parts if p.result.records]
    if not kept or any(p.first is None or p.last is None for p in kept):
        return None
    for before, after in zip(kept, kept[1:], strict=False):
        walk = _Walk(iter(()), key, None)
        walk.last = before.last
        try:
            walk.check(after.first)  # type: ignore[arg-type]
        except _Broken:
            return None
    gaps = tuple(g for p in kept for g in p.result.gaps)
    records = sum(p.result.records for p in kept)
    first = kept[0].result.first_sequence
    return replace(kept[-1].result, records=records, first_sequence=first, gaps=gaps)


def _merge_seen(seen: Seen, parts: Sequence[_Part]) -> None:
    for part in parts:
        seen.count += part.seen.count
        seen.timestamped += part.seen.timestamped
        seen.signed += part.seen.signed
        seen.last_time = part.seen.last_time or seen.last_time
        seen.gaps.extend(part.seen.gaps)
