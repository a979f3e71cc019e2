"""Which files a review reads, the time window, and progress on a terminal.

FILES name logs the way an operator thinks of them: the current file stands for
the whole log, rotated and gzipped files included (proxy.evidence.logfiles knows the
rotation scheme), so `optout logs summary` with no argument covers everything the
proxy still keeps. Without FILES the log is --log / OPTOUT_LOG, as for the proxy.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from proxy.evidence.logfiles import chain_order, log_files
from proxy.settings import lookup

PROGRESS_EVERY = 100_000
NO_LOG = (
    "no log to read: the log is written to standard output ('-', the default of "
    "--log / OPTOUT_LOG), which is not kept: give FILES, or the --log FILE / OPTOUT_LOG "
    "`optout run` was given"
)


class ReviewError(Exception):
    """A review cannot run: no files, an unreadable bundle, a bad time. Exit status 1."""


def resolve(
    names: Sequence[str], log: str | None = None, environ: Mapping[str, str] | None = None
) -> list[Path]:
    """The files to read, oldest first: each FILE expanded to its log's rotated files.

    Without FILES, the log is where the proxy writes it: `log` (the --log flag), else
    OPTOUT_LOG. Every review command and `logs verify` read the same set this way.
    """
    if not names:
        default = str(lookup("log", {"log": log}, environ))
        if default == "-":
            raise ReviewError(NO_LOG)
        names = [default]
    found: dict[Path, None] = {}
    for name in names:
        path = Path(name)
        expanded = [p for p in log_files(path) if p.is_file()] or ([path] if path.is_file() else [])
        if not expanded:
            raise ReviewError(
                f"no such log file: {name} (no log at that path, nor rotated from it)"
            )
        found.update(dict.fromkeys(expanded))
    return chain_order(list(found))


def describe(files: Sequence[Path]) -> str:
    """Which files a command read, for its stderr: all of them, or the first and last."""
    names = [str(f) for f in files]
    shown = ", ".join(names) if len(names) <= 4 else f"{names[0]}, ... {names[-1]}"
    return f"read {len(names)} file(s): {shown}"


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
