"""Tamper evidence for the access log: a hash chain over the exact lines written.

Every record carries its sequence number (`event.sequence`, 1-based, continuing
across rotation and restarts) and `optout.chain.prev`, the digest of the
previous record's line exactly as written: SHA-256, or HMAC-SHA256 when a key is
configured (`alg` says which). Lines are ASCII-only compact JSON, so the
verifier hashes raw bytes and never re-serialises. Editing, deleting, inserting
or reordering a record breaks a link; with an HMAC key, so does recomputing the
chain without the key. Removing the newest records breaks no link, so the
writer keeps the chain head (last sequence and digest) in the state dir, and
`verify_lines` compares the log's end with it.

A write that fails loses its records but not the chain: their sequence numbers
are skipped, and the next line written is a `log-gap` record that names them and
links to the last line actually written (see proxy.store.logwriter).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proxy.errors import SettingsError

GENESIS = "0" * 64
SHA256 = "sha256"
HMAC_SHA256 = "hmac-sha256"
GAP_ACTION = "log-gap"
HEAD_FILE = "chain-head.json"
MIN_KEY_BYTES = 16
HEX64 = re.compile(r"[0-9a-f]{64}")
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode


def head_file(worker: int | None = None) -> str:
    """The chain head's name in the state dir: worker i of `--workers N` keeps its own."""
    return HEAD_FILE if worker is None else f"chain-head-{worker}.json"


def worker_log(path: Path, worker: int) -> Path:
    """Worker i's log beside `path`: access.jsonl -> access-<i>.jsonl (rotated as usual)."""
    return path.with_name(f"{path.stem}-{worker}{path.suffix}")


def worker_sets(path: Path) -> list[Path]:
    """`path`, then the worker files beside it (access-1.jsonl, ...) in worker order."""
    found = {}
    pattern = re.compile(re.escape(path.stem) + r"-([1-9][0-9]*)" + re.escape(path.suffix))
    try:
        for entry in path.parent.iterdir():
            if match := pattern.fullmatch(entry.name):
                found[int(match[1])] = entry
    except OSError:
        pass
    return [path, *(found[i] for i in sorted(found))]


def digest(line: bytes, key: bytes | None) -> str:
    if key is None:
        return hashlib.sha256(line).hexdigest()
    return hmac.new(key, line, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Head:
    """The newest record written: its sequence number and its line's digest."""

    sequence: int
    digest: str
    alg: str = SHA256


class ChainWriter:
    """Stamps records with their place in the chain; the caller writes the lines in order."""

    def __init__(self, key: bytes | None = None, sequence: int = 0, prev: str = GENESIS) -> None:
        self.key = key
        self.alg = HMAC_SHA256 if key is not None else SHA256
        self.sequence = sequence  # of the last record stamped
        self.prev = prev  # digest of the last line stamped

    def stamp(self, record: Mapping[str, Any]) -> bytes:
        """The line to write for `record` (not modified), without its newline."""
        stamped = dict(record)
        stamped["event"] = {**record.get("event", {}), "sequence": self.sequence + 1}
        chain = {"prev": self.prev, "alg": self.alg}
        stamped["optout"] = {**record.get("optout", {}), "chain": chain}
        line = _encode(stamped).encode("ascii")  # raises before anything advances
        self.sequence += 1
        self.prev = digest(line, self.key)
        return line

    @property
    def head(self) -> Head:
        return Head(self.sequence, self.prev, self.alg)


def load_head(path: Path) -> Head | None:
    """The head saved at `path`, None if there is none; ValueError if it is damaged."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    try:
        head = Head(int(data["sequence"]), str(data["digest"]), str(data.get("alg", SHA256)))
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path}: not a chain head ({e})") from e
    if head.sequence < 0 or not HEX64.fullmatch(head.digest):
        raise ValueError(f"{path}: not a chain head")
    return head


def save_head(path: Path, head: Head) -> None:
    """Replace the head atomically and durably: a crash leaves the old one or the new one."""
    tmp = path.with_name(path.name + ".tmp")
    data = json.dumps({"sequence": head.sequence, "digest": head.digest, "alg": head.alg})
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def load_hmac_key(environ: Mapping[str, str], path: str | Path | None = None) -> bytes | None:
    """The HMAC key from `path` (a flag), OPTOUT_LOG_HMAC_KEY_FILE or OPTOUT_LOG_HMAC_KEY.

    Error messages name where the key came from, never the key itself.
    """
    source = str(path) if path else environ.get("OPTOUT_LOG_HMAC_KEY_FILE") or None
    if source is not None:
        try:
            key = Path(source).read_bytes().strip()
        except OSError as e:
            raise SettingsError(
                f"cannot read the log HMAC key file {source} "
                f"(--log-hmac-key-file / OPTOUT_LOG_HMAC_KEY_FILE): {e.strerror}"
            ) from None
        where = f"the log HMAC key file {source} (--log-hmac-key-file / OPTOUT_LOG_HMAC_KEY_FILE)"
    else:
        value = environ.get("OPTOUT_LOG_HMAC_KEY")
        if not value:
            return None
        key, where = value.strip().encode(), "OPTOUT_LOG_HMAC_KEY"
    if len(key) < MIN_KEY_BYTES:
        raise SettingsError(
            f"{where} holds {len(key)} bytes: a log HMAC key needs at least {MIN_KEY_BYTES}"
            + (
                ""
                if source
                else " (or give a key file: --log-hmac-key-file / OPTOUT_LOG_HMAC_KEY_FILE)"
            )
        )
    return key
