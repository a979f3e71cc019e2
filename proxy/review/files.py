"""Which files a review reads, the time window, and progress on a terminal.

FILES name logs the way an operator thinks of them: the current file stands for
the whole log, rotated and gzipped files included (proxy.evidence.logfiles knows the
rotation scheme), so `optout logs summary` with no argument covers everything the
proxy still keeps.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from proxy.evidence.logfiles import chain_order, log_files
from proxy.settings import lookup

DEFAULT_LOG = "logs/access.jsonl"
PROGRESS_EVERY = 100_000


class ReviewError(Exception):
    """A review cannot run: no files, an unreadable bundle, a bad time. Exit status 1."""


def resolve(names: Sequence[str]) -> list[Path]:
    """The files to read, oldest first: each FILE expanded to its log's rotated files."""
    if not names:
        default = str(lookup("log", default=DEFAULT_LOG))  # OPTOUT_LOG, as the proxy wrote it
        if default == "-":
            raise ReviewError("OPTOUT_LOG is '-' (standard output): name the log FILES to read")
        names = [default]
    found: dict[Path, None] = {}
    for name in names:
        path = Path(name)
        expanded = [p for p in log_files(path) if p.is_file()] or ([path] if path.is_file() else [])
        if not expanded:
            raise ReviewError(f"no such log file: {name}")
        found.update(dict.fromkeys(expanded))
    return chain_order(list(found))


def parse_time(text: str | None, *, end: bool = False) -> str | None:
    """An ISO 8601 time or date as the log writes it (UTC, ms, Z), for string comparison.

    A bare date given as an end (--until) means the end of that day, since
    `--until 2026-11-25` is read as "up to and including the 25th".
    """
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ReviewError(
            f"cannot parse time '{text}': expected ISO 8601, e.g. 2026-11-25 or "
            "2026-11-25T16:00:00Z"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if end and len(text) == 10:
        value += timedelta(days=1)
    return value.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def in_window(ts: str | None, since: str | None, until: str | None) -> bool:
    """Whether a record's @timestamp lies in [since, until)."""
    if ts is None:
        return since is None and until is None
    return (since is None or ts >= since) and (until is None or ts < until)


def progress[T](items: Iterable[T], what: str, every: int = PROGRESS_EVERY) -> Iterator[T]:
    """Yield `items`, counting them on stderr every `every` when stderr is a terminal."""
    if not sys.stderr.isatty():
        yield from items
        return
    count = 0
    for count, item in enumerate(items, 1):
        if count % every == 0:
            print(f"\roptout: {what}: {count:,} records", end="", file=sys.stderr, flush=True)
        yield item
    print(f"\roptout: {what}: {count:,} records", file=sys.stderr, flush=True)
