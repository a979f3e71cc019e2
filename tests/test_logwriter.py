"""The log writer drains on close, and keeps serving when the file cannot be written."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from proxy.logwriter import LogWriter


def test_every_record_is_written_on_close(tmp_path: Path) -> None:
    target = tmp_path / "logs" / "access.jsonl"
    writer = LogWriter(str(target))
    for i in range(5000):
        writer.write({"n": i})
    writer.close()
    lines = target.read_text().splitlines()
    assert [json.loads(line)["n"] for line in lines] == list(range(5000))
    assert (writer.written, writer.lost) == (5000, 0)


def test_appends_to_an_existing_log(tmp_path: Path) -> None:
    target = tmp_path / "access.jsonl"
    target.write_text('{"n":-1}\n')
    writer = LogWriter(str(target))
    writer.write({"n": 0})
    writer.close()
    assert target.read_text().splitlines() == ['{"n":-1}', '{"n":0}']


def test_lost_records_are_counted_and_writing_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A directory where the log file should be: every open fails, as on a full or
    # read-only disk, even for root. Removing it lets writing resume.
    target = tmp_path / "access.jsonl"
    target.mkdir()
    writer = LogWriter(str(target))
    writer.write({"n": 1})
    deadline = time.monotonic() + 10
    while writer.lost == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    target.rmdir()
    writer.write({"n": 2})
    writer.close()
    assert (writer.written, writer.lost) == (1, 1)
    assert target.read_text().splitlines() == ['{"n":2}']
    assert "1 records lost so far" in capsys.readouterr().err
