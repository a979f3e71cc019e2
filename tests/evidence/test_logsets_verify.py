"""Verifying a rotated log's files in parallel gives exactly the one-pass verdict.

Each case tampers with a log of eight rotated (gzipped) files the way an
adversary would, at a file's start, middle and end and across the joins between
files; `verify_files` with two processes must return what `verify_lines` returns
over the same lines, culprit, line and sentence included, and the same checkpoints.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from review.loggen import LogBuilder

from proxy.evidence.chain import HEAD_FILE, load_head
from proxy.evidence.chainverify import verify_lines
from proxy.evidence.checkpoints import Seen, watch
from proxy.evidence.logfiles import iter_lines, log_files
from proxy.evidence.verifyfiles import verify_files

PER_FILE = 6


def _log(tmp_path: Path) -> tuple[list[Path], Path]:
    b = LogBuilder(tmp_path)
    for n in range(8 * PER_FILE - 3):
        b.request(n, "GPTBot" if n % 2 else None, f"/p/{n}")
    b.gap(50, 2)
    for n in range(2):
        b.request(60 + n, None, f"/q/{n}")
    b.write(rotate_every=PER_FILE)
    files = log_files(b.log)
    assert len(files) == 8
    return files, b.state


def _lines(path: Path) -> list[bytes]:
    data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    return data.splitlines(keepends=True)


def _store(path: Path, lines: list[bytes]) -> None:
    data = b"".join(lines)
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)


def _edit(index: int, change: Callable[[list[bytes]], None]) -> Callable[[list[Path]], None]:
    def apply(files: list[Path]) -> None:
        lines = _lines(files[index])
        change(lines)
        _store(files[index], lines)

    return apply


def _set(i: int, value: bytes) -> Callable[[list[bytes]], None]:
    def change(lines: list[bytes]) -> None:
        lines[i] = value

    return change


def _swap_across(files: list[Path]) -> None:
    a, b = _lines(files[2]), _lines(files[3])
    a[-1], b[0] = b[0], a[-1]
    _store(files[2], a)
    _store(files[3], b)


def _move_last_to_next(files: list[Path]) -> None:
    a, b = _lines(files[4]), _lines(files[5])
    b.insert(0, a.pop())
    _store(files[4], a)
    _store(files[5], b)


CASES: dict[str, Callable[[list[Path]], None]] = {
    "intact": lambda files: None,
    "changed in the middle of a file": _edit(
        3, lambda ls: ls.__setitem__(2, ls[2].replace(b"/p/", b"/X/"))
    ),
    "changed first line of a file": _edit(
        4, lambda ls: ls.__setitem__(0, ls[0].replace(b"/p/", b"/X/"))
    ),
    "changed last line of a file": _edit(
        2, lambda ls: ls.__setitem__(-1, ls[-1].replace(b"/p/", b"/X/"))
    ),
    "first line of a file removed": _edit(5, lambda ls: ls.pop(0)),
    "last line of a file removed": _edit(1, lambda ls: ls.pop()),
    "a whole file removed": lambda files: files.pop(3).unlink(),
    "swapped across a join": _swap_across,
    "moved to the next file": _move_last_to_next,
    "a line duplicated": _edit(6, lambda ls: ls.insert(2, ls[2])),
    "not JSON": _edit(2, _set(3, b"{not json\n")),
    "a file's lines reordered": _edit(1, lambda ls: ls.reverse()),
    "the end cut": _edit(7, lambda ls: ls.pop()),
    "the first file removed": lambda files: files.pop(0).unlink(),
}


# A line moved to the next file keeps its place in the chain; the oldest file removed is
# retention: the log then starts at its first record (verify says so).
INTACT = ("intact", "moved to the next file", "the first file removed")


@pytest.mark.parametrize("case", list(CASES))
def test_parallel_verify_is_the_one_pass_verdict(tmp_path: Path, case: str) -> None:
    files, state = _log(tmp_path)
    CASES[case](files)
    files = [f for f in files if f.exists()]
    head = load_head(state / HEAD_FILE)
    assert threading.active_count() == 1, "the parallel path forks only without threads"
    one, one_seen = Seen(), Seen()
    expected = verify_lines(watch(iter_lines(files), one_seen), None, head)
    done: list[Path] = []
    got = verify_files(files, None, head, one, processes=2, done=done.append)
    assert got == expected
    assert one == one_seen
    assert done == files  # the progress bar saw every file, in order
    assert got.ok == (case in INTACT)


def test_the_gap_inside_a_file_is_listed_as_in_one_pass(tmp_path: Path) -> None:
    files, state = _log(tmp_path)
    got = verify_files(files, None, load_head(state / HEAD_FILE), processes=2)
    assert got.ok
    assert got.records == 8 * PER_FILE  # 45 requests, the gap record, 2 requests
    assert [(g.first_sequence, g.lost) for g in got.gaps] == [(8 * PER_FILE - 2, 2)]
    assert (got.first_sequence, got.last_sequence) == (1, 8 * PER_FILE + 2)
