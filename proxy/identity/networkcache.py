"""Compiled network tables kept on disk between starts (`--cache DIR`).

Compiling every provider snapshot takes one to two seconds of CPU; a proxy that
starts, reloads or runs `optout check` with unchanged files reads the tables back
in a few tens of milliseconds instead. The file is JSON, never pickle: a cache
directory must not be a way to run code. It is keyed by a hash of everything the
tables are built from, and anything unexpected in it means "compile again".
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
FORMAT = 1
_NAME = "networks-{key}.json"
_KEEP = 8


def _age(path: Path) -> float:
    try:
        return -path.stat().st_mtime
    except OSError:
        return 0.0


def cache_key(paths: Iterable[Path], extra: object) -> str:
    """A hash of the snapshot files' names and bytes and of `extra` (ranges, operators)."""
    digest = hashlib.sha256(f"format {FORMAT}\n".encode())
    for path in paths:
        digest.update(f"{path.name}\n".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    digest.update(repr(extra).encode())
    return digest.hexdigest()


def read(directory: Path, key: str) -> dict[str, Any] | None:
    """The cached document for `key`, or None when absent or unreadable."""
    path = directory / _NAME.format(key=key[:32])
    try:
        document = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        log.info("network cache %s unreadable, compiling: %s", path, e)
        return None
    if not isinstance(document, dict) or document.get("key") != key:
        return None
    return document


def write(directory: Path, key: str, document: dict[str, Any]) -> None:
    """Save `document` under `key`, atomically; a cache that cannot be written is skipped."""
    path = directory / _NAME.format(key=key[:32])
    try:
        directory.mkdir(parents=True, exist_ok=True)
        others = sorted(directory.glob(_NAME.format(key="*")), key=_age)
        for old in [p for p in others if p != path][_KEEP - 1 :]:
            old.unlink(missing_ok=True)  # a few sets of ranges at a time, newest kept
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=".networks-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({**document, "key": key}, f, separators=(",", ":"))
        os.replace(temporary, path)
    except OSError as e:
        log.info("network cache not written to %s: %s", directory, e)
