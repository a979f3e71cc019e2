"""The log writer when a write fails half-way: whole records only, and one batch lost at most."""

from __future__ import annotations

import errno
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from proxy.evidence.chainverify import verify_lines
from proxy.evidence.logfiles import iter_lines
from proxy.store import logwriter
from proxy.store.logwriter import LogWriter


class Disk:
    """`os` as the writer sees it, with a write() that a test can make fail.

    `fail` counts down the writes that still succeed; at zero, the next one writes
    `partly` bytes (if any) and the one after raises ENOSPC, once. `hold`, while set,
    keeps the first write waiting, so records pile up in the queue meanwhile.
    """

    def __init__(self) -> None:
        self.fail: int | None = None
        self.partly = 0
        self.hold: threading.Event | None = None
        self.waiting = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def write(self, fd: int, data: Any) -> int:
        if self.hold is not None:
            self.waiting.set()
            self.hold.wait(10)
            self.hold = None
        if self.fail is not None:
            if self.fail > 0:
                self.fail -= 1
            elif self.partly:
                data, self.partly = bytes(data[: self.partly]), 0
            else:
                self.fail = None
                raise OSError(errno.ENOSPC, "No space left on device")
        return os.write(fd, data)


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Disk:
    fake = Disk()
    monkeypatch.setattr(logwriter, "os", fake)
    return fake


def _numbers(target: Path) -> list[int]:
    return [json.loads(line)["n"] for line in target.read_bytes().splitlines() if b'"n"' in line]


def _write(writer: LogWriter, numbers: range) -> None:
    for n in numbers:
        writer.write({"n": n})
    writer.flush()


def test_a_partly_written_batch_is_cut_off(tmp_path: Path, disk: Disk) -> None:
    target = tmp_path / "access.jsonl"
    writer = LogWriter(str(target))
    _write(writer, range(3))
    disk.fail, disk.partly = 0, 10  # 10 bytes of the next batch land, then the disk is full
    _write(writer, range(3, 5))
    _write(writer, range(5, 7))
    writer.close()
    assert (writer.written, writer.lost) == (5, 2)
    lines = target.read_bytes().splitlines()
    assert [json.loads(line).get("n") for line in lines] == [0, 1, 2, None, 5, 6]
    result = verify_lines(iter_lines([target]), None)
    assert result.ok
    assert [(g.first_sequence, g.last_sequence) for g in result.gaps] == [(4, 5)]


def test_a_failed_write_loses_one_batch_not_the_whole_queue(
    tmp_path: Path, disk: Disk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logwriter, "_BATCH", 4)
    target = tmp_path / "access.jsonl"
    disk.hold, disk.fail = threading.Event(), 1  # the first write waits, the second fails
    writer = LogWriter(str(target))
    writer.write({"n": 0})
    assert disk.waiting.wait(10)
    for n in range(1, 11):  # ten records queue up behind the first
        writer.write({"n": n})
    disk.hold.set()
    writer.close()
    assert (writer.written, writer.lost) == (7, 4)
    assert _numbers(target) == [0, 5, 6, 7, 8, 9, 10]
    assert verify_lines(iter_lines([target]), None).ok
