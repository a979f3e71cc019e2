"""Reading the log's files: chain order, plain and gzip, and errors that name the line."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from proxy.evidence.logfiles import (
    LogReadError,
    chain_order,
    complete_size,
    compress,
    first_line,
    iter_lines,
    iter_records,
    last_line,
    log_files,
    prune,
    rotated_name,
)


def test_rotated_names_sort_by_first_sequence_then_time() -> None:
    assert rotated_name("access.jsonl", 1795651200.0, 42) == "access.jsonl.2026-11-26T00-00-00Z.42"


def test_log_files_are_in_chain_order_with_the_current_file_last(tmp_path: Path) -> None:
    names = [
        "access.jsonl.2026-11-26T00-00-00Z.901",
        "access.jsonl.2026-11-25T00-00-00Z.1.gz",
        "access.jsonl.2026-11-24T00-00-00Z.95.gz",  # a clock that stepped back: sequence rules
        "access.jsonl.2026-11-24T00-00-00Z.95",  # a crash between compressing and removing
        "access.jsonl.2026-11-27T00-00-00Z.1000.gz.tmp",  # an unfinished compression
        "other.jsonl.2026-11-25T00-00-00Z.1",
        "access.jsonl",
        "access.jsonl.bak",
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    assert [f.name for f in log_files(tmp_path / "access.jsonl")] == [
        "access.jsonl.2026-11-25T00-00-00Z.1.gz",
        "access.jsonl.2026-11-24T00-00-00Z.95",
        "access.jsonl.2026-11-26T00-00-00Z.901",
        "access.jsonl",
    ]
    assert log_files(tmp_path / "missing" / "access.jsonl") == []


def test_files_from_a_shell_glob_are_put_in_chain_order() -> None:
    glob = [Path("access.jsonl"), Path("access.jsonl.2026-11-26T00-00-00Z.901"),
            Path("access.jsonl.2026-11-25T00-00-00Z.11.gz")]  # fmt: skip
    assert [p.name for p in chain_order(glob)] == [
        "access.jsonl.2026-11-25T00-00-00Z.11.gz",
        "access.jsonl.2026-11-26T00-00-00Z.901",
        "access.jsonl",
    ]


def test_lines_of_plain_and_gzip_files_in_order(tmp_path: Path) -> None:
    (tmp_path / "a.gz").write_bytes(gzip.compress(b'{"n":1}\n{"n":2}\n'))
    (tmp_path / "b").write_bytes(b'{"n":3}\n{"n":4}')  # no final newline
    lines = list(iter_lines([tmp_path / "a.gz", tmp_path / "b"]))
    assert lines == [
        (tmp_path / "a.gz", 1, b'{"n":1}'),
        (tmp_path / "a.gz", 2, b'{"n":2}'),
        (tmp_path / "b", 1, b'{"n":3}'),
        (tmp_path / "b", 2, b'{"n":4}'),
    ]
    assert [r["n"] for r in iter_records([tmp_path / "a.gz", tmp_path / "b"])] == [1, 2, 3, 4]


def test_a_line_that_is_not_a_record_is_an_error_naming_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "log").write_bytes(b'{"n":1}\n{"n":\n[1]\n')
    with pytest.raises(LogReadError, match=r"log:2: not a JSON record") as caught:
        list(iter_records([tmp_path / "log"]))
    assert (caught.value.file, caught.value.line) == (tmp_path / "log", 2)
    (tmp_path / "log").write_bytes(b"[1]\n")
    with pytest.raises(LogReadError, match=r"log:1: not a JSON object"):
        list(iter_records([tmp_path / "log"]))


def test_a_damaged_gzip_file_is_an_error(tmp_path: Path) -> None:
    data = gzip.compress(b'{"n":1}\n' * 1000)
    (tmp_path / "log.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(LogReadError, match="damaged gzip file"):
        list(iter_lines([tmp_path / "log.gz"]))


def test_a_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        list(iter_lines([tmp_path / "missing"]))


@pytest.mark.parametrize(
    ("content", "first", "last", "complete"),
    [
        (b"", None, None, 0),
        (b"half", None, None, 0),
        (b"one\n", b"one", b"one", 4),
        (b"one\ntwo\nhal", b"one", b"two", 8),
        (b"x" * 70000 + b"\n" + b"y" * 70000 + b"\n", b"x" * 70000, b"y" * 70000, 140002),
    ],
)
def test_first_and_last_complete_lines(
    tmp_path: Path, content: bytes, first: bytes | None, last: bytes | None, complete: int
) -> None:
    (tmp_path / "log").write_bytes(content)
    assert first_line(tmp_path / "log") == first
    assert last_line(tmp_path / "log") == last
    assert complete_size(tmp_path / "log") == complete
    (tmp_path / "log.gz").write_bytes(gzip.compress(content[:complete]))
    assert last_line(tmp_path / "log.gz") == last


def test_compress_replaces_the_file_with_its_gzip_copy(tmp_path: Path) -> None:
    plain = tmp_path / "access.jsonl.2026-11-26T00-00-00Z.1"
    plain.write_bytes(b'{"n":1}\n')
    packed = compress(plain)
    assert packed.name == plain.name + ".gz"
    assert not plain.exists()
    assert gzip.decompress(packed.read_bytes()) == b'{"n":1}\n'


def test_prune_keeps_the_newest_rotated_files(tmp_path: Path) -> None:
    for seq in (1, 11, 21, 31):
        (tmp_path / f"access.jsonl.2026-11-26T00-00-00Z.{seq}.gz").write_bytes(b"")
    (tmp_path / "access.jsonl").write_bytes(b"")
    deleted = prune(tmp_path / "access.jsonl", 2)
    assert [p.name.split(".")[-2] for p in deleted] == ["1", "11"]
    assert [p.name for p in log_files(tmp_path / "access.jsonl")] == [
        "access.jsonl.2026-11-26T00-00-00Z.21.gz",
        "access.jsonl.2026-11-26T00-00-00Z.31.gz",
        "access.jsonl",
    ]
