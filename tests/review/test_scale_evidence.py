"""The evidence scan's block path selects exactly what the line-by-line scan selects.

The scan decodes only the lines holding the selection's needle and writes the runs
of lines between them to the chain segment whole; the reference here feeds every
line to the line-by-line walk (the scan as it was). Sparse and dense matches,
checkpoints that seal them, rotated gzipped files and blocks far smaller than a
file (so matches straddle block ends) must give the same records, segment, line
spans, seal and end.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import Any

import pytest
from loggen import LogBuilder

from proxy.evidence import checkpoints
from proxy.evidence.logfiles import iter_blocks, iter_lines, log_files
from proxy.review import bundle_select
from proxy.review.bundle_select import Request, Scan, _Lines, check_request


def _log(tmp_path: Path) -> list[Path]:
    b = LogBuilder(tmp_path)
    for n in range(60):
        agent = "ClaudeBot" if n % 3 == 0 else None  # dense
        if n in (5, 31, 58):
            agent = "GPTBot"  # sparse
        b.request(n, agent, f"/p/{n}", ip=f"203.0.113.{n % 7}")
        if n in (10, 33, 50):  # a checkpoint of the newest record
            head = b.chain.head
            b._write(checkpoints.record(head, [], [], None, 0), n + 0.5)
    b.write(rotate_every=9)
    return log_files(b.log)


def _result(out: Scan) -> tuple[Any, ...]:
    out.records.seek(0)
    out.segment.seek(0)
    segment = out.segment.read()[: out.end]
    return (out.records.read(), segment, out.count, dict(out.kept), out.sealed, out.at_end)


def _reference(files: list[Path], want: Request) -> tuple[Any, ...]:
    with tempfile.TemporaryFile() as records, tempfile.TemporaryFile() as segment:
        out = Scan(records, segment)
        walk = _Lines(want, check_request(want), out)
        for path, number, raw in iter_lines(files):
            walk.line(path, number, raw)
        out.at_end = out.pending
        return _result(out)


@pytest.mark.parametrize("block", [64, 300, 1 << 20])
@pytest.mark.parametrize(
    "want",
    [
        Request(agent="GPTBot"),
        Request(agent="ClaudeBot"),
        Request(agent="ClaudeBot", since="2026-11-02T09:20:00.000Z"),
        Request(operator="OpenAI"),
        Request(ip="203.0.113.3"),
        Request(agent="NoSuchBot"),
    ],
)
def test_the_block_scan_is_the_line_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int, want: Request
) -> None:
    files = _log(tmp_path)
    assert len(files) > 5
    monkeypatch.setattr(bundle_select, "iter_blocks", functools.partial(iter_blocks, size=block))
    with tempfile.TemporaryFile() as records, tempfile.TemporaryFile() as segment:
        got = _result(bundle_select.scan(files, want, Scan(records, segment)))
    assert got == _reference(files, want)
    if want.agent == "GPTBot":  # from the line before the first match to the end's checkpoint
        assert got[2] == 3
        assert len(got[3]) == len(files)
        assert not got[4]  # no checkpoint after the last match seals it
