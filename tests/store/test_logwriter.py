"""The log writer: drains on close, chains, rotates, keeps serving when the disk fails."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path
from typing import Any

import pytest

from proxy.evidence.chain import GENESIS, digest, load_head
from proxy.evidence.chainverify import verify_lines
from proxy.evidence.logfiles import iter_lines, iter_records, log_files
from proxy.store.logwriter import LogWriter

DAY = 86_400.0
MIDNIGHT = 1_795_651_200.0  # 2026-11-26T00:00:00Z


class Clock:
    def __init__(self, now: float = MIDNIGHT + 3600) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def record(n: int) -> dict[str, Any]:
    return {"event": {"kind": "event", "action": "allow"}, "optout": {"agent": None}, "n": n}


def write(writer: LogWriter, numbers: range, batch: int = 10) -> None:
    """Write in flushed batches, as requests trickle in."""
    for start in range(numbers.start, numbers.stop, batch):
        for n in range(start, min(start + batch, numbers.stop)):
            writer.write(record(n))
        writer.flush()


def numbers(paths: list[Path]) -> list[int]:
    return [r["n"] for r in iter_records(paths) if "n" in r]


def test_every_record_is_written_on_close(tmp_path: Path) -> None:
    target = tmp_path / "logs" / "access.jsonl"
    writer = LogWriter(str(target))
    for i in range(5000):
        writer.write({"n": i})
    writer.close()
    lines = target.read_text().splitlines()
    assert [json.loads(line)["n"] for line in lines] == list(range(5000))
    assert (writer.written, writer.lost) == (5000, 0)


def test_records_are_chained_and_verify(tmp_path: Path) -> None:
    target = tmp_path / "access.jsonl"
    writer = LogWriter(str(target), state_dir=tmp_path / "state")
    write(writer, range(100))
    writer.close()
    first = json.loads(target.read_bytes().splitlines()[0])
    assert first["event"]["sequence"] == 1
    assert first["optout"]["chain"] == {"prev": GENESIS, "alg": "sha256"}
    head = load_head(tmp_path / "state" / "chain-head.json")
    result = verify_lines(iter_lines([target]), None, head)
    assert (result.ok, result.records) == (True, 100)


def test_a_keyed_log_needs_the_key(tmp_path: Path) -> None:
    target = tmp_path / "access.jsonl"
    writer = LogWriter(str(target), hmac_key=b"k" * 16)
    write(writer, range(5))
    writer.close()
    assert verify_lines(iter_lines([target]), b"k" * 16).ok
    assert verify_lines(iter_lines([target]), None).needs_key


def test_a_log_without_chain_is_continued_from_scratch(tmp_path: Path) -> None:
    target = tmp_path / "access.jsonl"
    target.write_text('{"n":-1}\n')
    writer = LogWriter(str(target))
    writer.write({"n": 0})
    writer.close()
    lines = target.read_text().splitlines()
    assert lines[0] == '{"n":-1}'
    assert json.loads(lines[1])["event"]["sequence"] == 1


def test_a_restart_continues_the_chain(tmp_path: Path) -> None:
    target, state = tmp_path / "access.jsonl", tmp_path / "state"
    for session in range(3):
        writer = LogWriter(str(target), state_dir=state)
        write(writer, range(session * 10, session * 10 + 10))
        writer.close()
    result = verify_lines(iter_lines([target]), None, load_head(state / "chain-head.json"))
    assert (result.ok, result.first_sequence, result.last_sequence) == (True, 1, 30)


def test_a_restart_continues_the_chain_after_the_log_was_moved_away(tmp_path: Path) -> None:
    target, state = tmp_path / "access.jsonl", tmp_path / "state"
    writer = LogWriter(str(target), state_dir=state)
    write(writer, range(10))
    writer.close()
    old = target.rename(tmp_path / "archived.jsonl")
    writer = LogWriter(str(target), state_dir=state)
    write(writer, range(10, 15))
    writer.close()
    assert json.loads(target.read_bytes().splitlines()[0])["event"]["sequence"] == 11
    assert verify_lines(iter_lines([old, target]), None).ok


def test_a_restart_after_a_crash_continues_from_the_log_when_the_head_is_behind(
    tmp_path: Path,
) -> None:
    # Killed between writing a batch and saving the head: the log is one batch ahead.
    target, state = tmp_path / "access.jsonl", tmp_path / "state"
    writer = LogWriter(str(target), state_dir=state)
    write(writer, range(10))
    stale = (state / "chain-head.json").read_bytes()
    write(writer, range(10, 20))
    writer.close()
    (state / "chain-head.json").write_bytes(stale)
    with target.open("ab") as log:
        log.write(b'{"event":{"sequence":21},"optout":{"ch')  # and half a line
    writer = LogWriter(str(target), state_dir=state)
    write(writer, range(20, 25))
    writer.close()
    head = load_head(state / "chain-head.json")
    result = verify_lines(iter_lines([target]), None, head)
    assert (result.ok, result.last_sequence) == (True, 25)


def test_lost_records_are_counted_and_writing_resumes_with_a_gap_record(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A directory where the log file should be: every open fails, as on a full or
    # read-only disk, even for root. Removing it lets writing resume.
    target = tmp_path / "access.jsonl"
    writer = LogWriter(str(target))
    write(writer, range(3))
    good = target.read_bytes()
    target.unlink()
    target.mkdir()
    write(writer, range(3, 8), batch=1)  # five failed batches
    target.rmdir()
    write(writer, range(8, 10))
    writer.close()
    assert (writer.written, writer.lost) == (5, 5)
    err = caplog.text  # the operational log (tests/cli/test_operational_messages.py)
    assert err.count("records lost so far") == 1  # rate-limited: not one line per batch
    assert "1 records lost so far" in err
    assert "writing again after 5 lost records" in err
    gap, *rest = [json.loads(line) for line in target.read_bytes().splitlines()]
    assert gap["event"]["action"] == "log-gap"
    assert gap["event"]["sequence"] == 9
    assert gap["optout"]["gap"] == {"lost": 5, "first_sequence": 4, "last_sequence": 8}
    assert gap["optout"]["chain"]["prev"] == digest(good.splitlines()[-1], None)
    assert [r["n"] for r in rest] == [8, 9]
    before = tmp_path / "before.jsonl"
    before.write_bytes(good)
    result = verify_lines(iter_lines([before, target]), None)
    assert result.ok
    assert [(g.first_sequence, g.last_sequence, g.lost) for g in result.gaps] == [(4, 8, 5)]


def test_a_gap_at_shutdown_is_still_recorded_if_the_disk_is_back(tmp_path: Path) -> None:
    target = tmp_path / "access.jsonl"
    target.mkdir()
    writer = LogWriter(str(target), clock=Clock(MIDNIGHT))
    write(writer, range(2))
    target.rmdir()
    writer.close()
    (gap,) = iter_records([target])
    assert gap["@timestamp"] == "2026-11-26T00:00:00.000Z"
    assert gap["optout"]["gap"] == {"lost": 2, "first_sequence": 1, "last_sequence": 2}
    assert verify_lines(iter_lines([target]), None).ok


def test_rotation_by_size_keeps_each_file_under_the_limit(tmp_path: Path) -> None:
    target = tmp_path / "access.jsonl"
    writer = LogWriter(str(target), max_bytes=4000, compress=False, clock=Clock())
    write(writer, range(200))
    writer.close()
    files = log_files(target)
    assert len(files) > 5
    assert all(f.stat().st_size <= 4000 for f in files)
    assert files[0].name == "access.jsonl.2026-11-26T01-00-00Z.1"
    assert numbers(files) == list(range(200))
    assert verify_lines(iter_lines(files), None).ok


def test_rotation_by_utc_day(tmp_path: Path) -> None:
    target, clock = tmp_path / "access.jsonl", Clock(MIDNIGHT - 60)
    writer = LogWriter(str(target), compress=False, clock=clock)
    write(writer, range(5))
    clock.now = MIDNIGHT + 1
    write(writer, range(5, 10))
    writer.close()
    rotated, current = log_files(target)
    assert rotated.name == "access.jsonl.2026-11-26T00-00-01Z.1"
    assert numbers([rotated]) == list(range(5))
    assert numbers([current]) == list(range(5, 10))


def test_a_restart_on_a_new_day_rotates_yesterdays_file(tmp_path: Path) -> None:
    target = tmp_path / "access.jsonl"
    writer = LogWriter(str(target), clock=Clock(time.time()))
    write(writer, range(3))
    writer.close()
    writer = LogWriter(str(target), clock=Clock(time.time() + DAY))
    write(writer, range(3, 4))
    writer.close()
    assert [f.suffix for f in log_files(target)] == [".gz", ".jsonl"]


def test_rotated_files_are_compressed_and_never_rewritten(tmp_path: Path) -> None:
    target = tmp_path / "access.jsonl"
    writer = LogWriter(str(target), max_bytes=4000, clock=Clock())
    write(writer, range(40))
    writer.flush()
    rotated = log_files(target)[:-1]
    assert rotated
    assert all(f.name.endswith(".gz") for f in rotated)
    seen = {f: (f.stat().st_mtime_ns, f.read_bytes()) for f in rotated}
    write(writer, range(40, 200))
    writer.close()
    for f, (mtime, content) in seen.items():
        assert (f.stat().st_mtime_ns, f.read_bytes()) == (mtime, content)
    files = log_files(target)
    assert not list(tmp_path.glob("*.tmp"))
    assert gzip.decompress(files[0].read_bytes()).startswith(b'{"event"')
    assert numbers(files) == list(range(200))
    assert verify_lines(iter_lines(files), None).ok


def test_retention_deletes_the_oldest_rotated_files(tmp_path: Path) -> None:
    target, state = tmp_path / "access.jsonl", tmp_path / "state"
    writer = LogWriter(str(target), state_dir=state, max_bytes=4000, keep=2, clock=Clock())
    write(writer, range(200))
    writer.close()
    files = log_files(target)
    assert len(files) == 3  # two rotated, and the current file
    assert numbers(files)[-1] == 199
    result = verify_lines(iter_lines(files), None, load_head(state / "chain-head.json"))
    assert result.ok
    assert result.first_sequence == numbers(files)[0] + 1


def test_standard_output_gets_chained_records(capsys: pytest.CaptureFixture[str]) -> None:
    writer = LogWriter("-")
    write(writer, range(3))
    writer.close()
    lines = [line.encode() for line in capsys.readouterr().out.splitlines()]
    assert [json.loads(line)["n"] for line in lines] == [0, 1, 2]
    assert verify_lines([(Path("-"), i, line) for i, line in enumerate(lines, 1)], None).ok


def test_invalid_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        LogWriter("-", max_bytes=0)
