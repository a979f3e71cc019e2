"""Progress of the long review commands, on a terminal only.

A bar over the bytes of the log files (as stored, gzipped or not) for the
commands that read the files themselves (verify, evidence, replay), and a
spinner with the time elapsed while DuckDB scans them (summary, violations,
search, report). Both go to standard error, and only when it is a terminal and
`--quiet` was not given: data goes to standard output, and a pipe or a file
never gets control sequences.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

_quiet = [False]


def set_quiet(quiet: bool) -> None:
    """`--quiet`: no progress at all, terminal or not."""
    _quiet[0] = quiet


def enabled() -> bool:
    return not _quiet[0] and sys.stderr.isatty()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


@contextmanager
def bar(what: str, files: Sequence[Path]) -> Iterator[Callable[[Path], None]]:
    """A bar over `files`; the function it yields is called with each file once read."""
    if not enabled():
        yield lambda path: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn(f"optout: {what}"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    # Redrawn when a file is done, not by a thread: `logs verify` forks its workers, and
    # a process must not fork while it runs threads.
    with Progress(*columns, auto_refresh=False, **_options(Console)) as shown:
        task = shown.add_task(what, total=sum(_size(f) for f in files) or None)
        shown.refresh()

        def advance(path: Path) -> None:
            shown.advance(task, _size(path))
            shown.refresh()

        yield advance


@contextmanager
def spinner(what: str) -> Iterator[None]:
    """A spinner and the time elapsed, while something without a measure of its own runs."""
    if not enabled():
        yield
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn(f"optout: {what}"), TimeElapsedColumn())
    with Progress(*columns, **_options(Console)) as shown:
        shown.add_task(what, total=None)
        yield


def _options(console: type[Console]) -> dict[str, Any]:
    # Our standard output is data: never redirected into the bar's console on stderr.
    return {
        "console": console(stderr=True),
        "transient": True,
        "redirect_stdout": False,
        "redirect_stderr": False,
    }


def files_read(files: Sequence[Path], what: str) -> Iterator[Path]:
    """Each of `files`, with the bar advanced past it once the caller is done with it."""
    with bar(what, files) as advance:
        for path in files:
            yield path
            advance(path)
