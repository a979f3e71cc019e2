"""The access log's files on disk: which there are, in which order, and their lines.

The writer rotates `access.jsonl` to `access.jsonl.<UTC time>.<first sequence>`
(gzip-compressed to `….gz` afterwards, by default). Chain order is the order of
the first sequence numbers, with the rotation time breaking ties, so a clock
that steps back does not reorder the files; the current file comes last. The
readers here serve the verifier and the review tools alike; a line that cannot
be read is an error that names its file and line, never skipped.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import zlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from proxy.errors import OptoutError
from proxy.evidence.chain import worker_log

_TIME = "%Y-%m-%dT%H-%M-%SZ"
_ROTATED = re.compile(r"\.(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ)\.(\d+)(\.gz)?")
_GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


class LogReadError(OptoutError):
    """A log line or file cannot be read: damaged, cut short or not JSON."""

    def __init__(self, message: str, file: Path, line: int | None) -> None:
        super().__init__(message)
        self.file, self.line = file, line

    def __reduce__(self) -> tuple[type[LogReadError], tuple[str, Path, int | None]]:
        return (LogReadError, (str(self), self.file, self.line))  # raised in a worker process


def rotated_name(name: str, when: float, first_sequence: int) -> str:
    """The name a log file called `name` gets when it is rotated at `when`."""
    stamp = datetime.fromtimestamp(when, UTC).strftime(_TIME)
    return f"{name}.{stamp}.{first_sequence}"


def rotation_key(path: Path, name: str) -> tuple[int, str] | None:
    """(first sequence, time) if `path` is a rotated file of the log `name`, else None."""
    if not path.name.startswith(name):
        return None
    match = _ROTATED.fullmatch(path.name[len(name) :])
    return (int(match[2]), match[1]) if match else None


def rotated_files(path: Path) -> list[Path]:
    """The rotated files of the log at `path`, oldest first; one of `X` and `X.gz` if both."""
    try:
        entries = list(path.parent.iterdir())
    except FileNotFoundError:
        return []
    keyed = {}
    for entry in entries:
        key = rotation_key(entry, path.name)
        if key is not None and (key not in keyed or not entry.name.endswith(".gz")):
            keyed[key] = entry  # a crash between compressing and removing leaves both
    return [keyed[k] for k in sorted(keyed)]


def log_files(path: Path) -> list[Path]:
    """The log's rotated files in chain order, then the current file if it exists."""
    return rotated_files(path) + ([path] if path.is_file() else [])


def log_name(path: Path) -> str:
    """The name of the log a file belongs to: its own, or the one it was rotated from."""
    match = _ROTATED.search(path.name)
    return path.name[: match.start()] if match else path.name


def worker_of(name: str) -> int | None:
    """i for a log named like worker i's (`access-<i>.jsonl`, proxy.evidence.chain.worker_log)."""
    stem, dash, number = Path(name).stem.rpartition("-")
    plain = number.isascii() and number.isdigit() and (number == "0" or number[0] != "0")
    return int(number) if stem and dash and plain else None


def worker_logs(path: Path) -> list[tuple[int, Path]]:
    """The logs that the workers of `--workers N` write for `path`, by worker: those with a
    current or a rotated file (`DIR/access.jsonl` -> `DIR/access-<i>.jsonl`)."""
    try:
        names = {log_name(entry) for entry in path.parent.iterdir()}
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = []
    for name in names:
        worker = worker_of(name)
        if worker is not None and name == worker_log(path, worker).name:
            found.append((worker, path.with_name(name)))
    return sorted(found)


def chain_order(paths: Sequence[Path]) -> list[Path]:
    """Files given on a command line (e.g. by a shell glob), put in chain order."""

    def key(path: Path) -> tuple[int, int, str, str]:
        match = _ROTATED.search(path.name)
        if match is None:
            return (1, 0, "", str(path))  # a current file: after every rotated one
        return (0, int(match[2]), match[1], str(path))

    return sorted(dict.fromkeys(paths), key=key)


def _open(path: Path) -> gzip.GzipFile | io.BufferedReader:
    return gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb")


def iter_lines(paths: Sequence[Path]) -> Iterator[tuple[Path, int, bytes]]:
    """(file, line number, line without its newline) over plain and gzip files, in order.

    OSError (a missing or unreadable file) propagates; a damaged gzip file is a
    LogReadError.
    """
    for path in paths:
        number = 0
        for chunk in iter_chunks(path):
            for raw in chunk:
                number += 1
                yield path, number, raw


def iter_chunks(path: Path, size: int = 1 << 20) -> Iterator[list[bytes]]:
    """The file's lines (without their newlines) in lists of about `size` bytes."""
    for block in iter_blocks(path, size):
        yield block.split(b"\n")


def iter_blocks(path: Path, size: int = 1 << 20) -> Iterator[bytes]:
    """The file in blocks of whole lines, about `size` bytes each, without the last newline.

    Reading a megabyte at a time and splitting it is three times faster than
    iterating a GzipFile line by line; a last line without its newline is kept.
    A damaged gzip file yields its lines before the damage, then raises LogReadError.
    """
    lines = 0
    with _open(path) as f:
        rest = b""
        try:
            while block := f.read(size):
                cut = block.rfind(b"\n")
                if cut < 0:
                    rest += block
                    continue
                whole = rest + block[:cut]
                rest = block[cut + 1 :]
                lines += whole.count(b"\n") + 1
                yield whole
        except _GZIP_ERRORS:
            yield from _salvage(path, lines)  # the lines before the damage, one by one
            return
        if rest:
            yield rest


def _salvage(path: Path, skip: int) -> Iterator[bytes]:
    """After a damaged block: the whole lines after the first `skip`, then the error."""
    number = 0
    with _open(path) as lines:
        try:
            for number, raw in enumerate(lines, 1):  # noqa: B007 - read after the loop
                if number > skip:
                    yield raw[:-1] if raw.endswith(b"\n") else raw
        except _GZIP_ERRORS as e:
            message = f"{path}: damaged gzip file after line {number}: {e}"
            raise LogReadError(message, path, number + 1) from e


def loads(raw: bytes) -> Any:
    """`json.loads`, three times faster through orjson; what orjson refuses and json
    accepts (NaN, integers past 64 bits) is json's to decide, so the answer is json's."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


def iter_records(paths: Sequence[Path]) -> Iterator[dict[str, Any]]:
    """The records of the files, decoded; a line that is not a JSON object raises."""
    for path, number, raw in iter_lines(paths):
        try:
            record = loads(raw)
        except ValueError as e:
            raise LogReadError(f"{path}:{number}: not a JSON record: {e}", path, number) from e
        if not isinstance(record, dict):
            raise LogReadError(f"{path}:{number}: not a JSON object", path, number)
        yield record


def first_line(path: Path) -> bytes | None:
    """The file's first complete line, None if it has none."""
    with _open(path) as lines:
        line = lines.readline()
    return line[:-1] if line.endswith(b"\n") else None


def last_line(path: Path) -> bytes | None:
    """The file's last complete line (a crash can leave an incomplete one after it)."""
    if path.name.endswith(".gz"):
        last = None
        for _, _, raw in iter_lines([path]):
            last = raw
        return last
    with path.open("rb") as f:
        end = f.seek(0, os.SEEK_END)
        tail = b""
        while end > 0:
            start = max(0, end - 65536)
            f.seek(start)
            tail = f.read(end - start) + tail
            end = start
            cut = tail.rfind(b"\n")  # the end of the last complete line
            begin = tail.rfind(b"\n", 0, max(cut, 0))
            if cut >= 0 and (begin >= 0 or start == 0):
                return tail[begin + 1 : cut]
    return None


def complete_size(path: Path) -> int:
    """The size of a plain file up to and including its last newline."""
    with path.open("rb") as f:
        end = f.seek(0, os.SEEK_END)
        while end > 0:
            start = max(0, end - 65536)
            f.seek(start)
            cut = f.read(end - start).rfind(b"\n")
            if cut >= 0:
                return start + cut + 1
            end = start
    return 0


def drop_incomplete_line(path: Path) -> int:
    """Cut half a line a crash left at the end, so the next line is not glued to it."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    complete = complete_size(path) if size else 0
    if complete < size:
        os.truncate(path, complete)
    return size - complete


def newest_line(path: Path, rotated: bool) -> bytes | None:
    """The log's last chained line: of the current file, or else (`rotated`) of the newest
    rotated file; None if that line is not a chained record."""
    files = log_files(path) if rotated else [path]
    for file in reversed([f for f in files if f.is_file()]):
        line = last_line(file)
        if line is not None:
            return line if sequence_of(line) else None
    return None


def sequence_of(line: bytes | None) -> int:
    """The record's `event.sequence`, 0 for a line that is not a chained record."""
    try:
        sequence = json.loads(line or b"")["event"]["sequence"]
    except (ValueError, KeyError, TypeError):
        return 0
    return sequence if type(sequence) is int else 0


def compress(path: Path) -> Path:
    """Gzip `path` into `path.gz` (atomically), then remove `path`."""
    target = path.with_name(path.name + ".gz")
    tmp = path.with_name(path.name + ".gz.tmp")
    with path.open("rb") as source, tmp.open("wb") as raw:
        with gzip.GzipFile(path.name, "wb", 6, raw, mtime=0) as out:
            while chunk := source.read(1 << 20):
                out.write(chunk)
        raw.flush()
        os.fsync(raw.fileno())
    stat = path.stat()
    os.utime(tmp, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(tmp, target)
    path.unlink()
    return target


def prune(path: Path, keep: int) -> list[Path]:
    """Delete all but the `keep` newest rotated files of the log; returns those deleted."""
    rotated = rotated_files(path)
    doomed = rotated[: max(0, len(rotated) - keep)]
    for old in doomed:
        old.unlink(missing_ok=True)
        old.with_name(old.name + ".gz").unlink(missing_ok=True)
    return doomed
