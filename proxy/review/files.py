"""Which files a review reads, as which chains, and the time window.

FILES name logs the way an operator thinks of them: the current file stands for
the whole log, rotated and gzipped files included (proxy.evidence.logfiles knows the
rotation scheme), so `optout logs summary` with no argument covers everything the
proxy still keeps. Without FILES the log is --log / OPTOUT_LOG, as for the proxy.
With `optout run --workers N`, worker i writes `access-<i>.jsonl` beside
`access.jsonl`, with its own chain and chain head (`chain-head-<i>.json`): the
log stands for those too, read chain by chain (`chains`) where the chain matters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from proxy.evidence.chain import HEAD_FILE, head_file
from proxy.evidence.logfiles import chain_order, log_files, log_name, worker_logs, worker_of
from proxy.settings import lookup

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
        for _, worker in worker_logs(path):  # `--workers N` writes one log per worker
            expanded += [p for p in log_files(worker) if p.is_file()]
        if not expanded:
            raise ReviewError(
                f"no such log file: {name} (no log at that path, nor rotated from it)"
            )
        found.update(dict.fromkeys(expanded))
    return [f for chain in chains(list(found)) for f in chain.files]


@dataclass(frozen=True, slots=True)
class Chain:
    """One hash chain's files in chain order: a log's, or one worker's of `--workers N`."""

    name: str  # the log's name: access.jsonl, access-2.jsonl
    worker: int | None
    files: tuple[Path, ...]

    def head(self, state: Path) -> Path:
        """Its chain head in the state dir; a log merely named like a worker's keeps the
        plain one."""
        own, plain = state / head_file(self.worker), state / HEAD_FILE
        return own if self.worker is None or own.exists() or not plain.exists() else plain


def chains(files: Sequence[Path]) -> list[Chain]:
    """The files grouped by the log they belong to, each group in chain order, by name."""
    groups: dict[tuple[Path, str], list[Path]] = {}
    for path in files:
        groups.setdefault((path.parent, log_name(path)), []).append(path)
    return [
        Chain(name, worker_of(name), tuple(chain_order(group)))
        for (_, name), group in sorted(groups.items(), key=lambda g: _chain_key(*g[0]))
    ]


def _chain_key(parent: Path, name: str) -> tuple[str, int, str]:
    worker = worker_of(name)
    return (str(parent), -1 if worker is None else worker, name)


def describe(files: Sequence[Path]) -> str:
    """Which files a command read, for its stderr: all of them, or the first and last;
    with the logs of several workers, also which chains."""
    names = [str(f) for f in files]
    shown = ", ".join(names) if len(names) <= 4 else f"{names[0]}, ... {names[-1]}"
    found = chains(files)
    if len(found) < 2:
        return f"read {len(names)} file(s): {shown}"
    each = ", ".join(f"{c.name} ({len(c.files)})" for c in found)
    return f"read {len(names)} file(s) of {len(found)} chains: {each}: {shown}"


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
