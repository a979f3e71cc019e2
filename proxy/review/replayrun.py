"""`optout replay` over many files: each file replayed in a process of its own, then merged.

Replaying a record (classify, score, decide) takes a core about thirty
microseconds, so a million records take half a minute on one core; the files of
a log are independent for replay, so they are spread over the cores and the
results added up in file order (the examples stay the earliest ones). A process
that runs threads cannot fork safely: it replays in one process.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import fields
from multiprocessing import get_context
from pathlib import Path

from proxy.evidence.logfiles import iter_records
from proxy.review.replay import _EXAMPLES, ReplayResult, replay
from proxy.ruleset import Ruleset

_shared: list[Ruleset] = []  # the rules, inherited by the forked workers


def replay_files(
    files: Sequence[Path],
    ruleset: Ruleset,
    *,
    processes: int | None = None,
    done: Callable[[Path], None] | None = None,
) -> ReplayResult:
    """`replay(iter_records(files), ruleset)`, one file per core."""
    done = done or (lambda path: None)
    workers = min(processes or os.cpu_count() or 1, len(files))
    results = []
    if workers > 1 and threading.active_count() == 1:
        _shared[:] = [ruleset]
        try:
            with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool:
                for path, result in zip(files, pool.map(_replay_file, files), strict=True):
                    results.append(result)
                    done(path)
        finally:
            _shared.clear()
    else:
        for path in files:
            results.append(replay(iter_records([path]), ruleset))
            done(path)
    return merge(results)


def _replay_file(path: Path) -> ReplayResult:
    return replay(iter_records([path]), _shared[0])


def merge(results: Sequence[ReplayResult]) -> ReplayResult:
    """The results added up: counts summed, counters added, the first examples kept."""
    total = ReplayResult()
    for result in results:
        for f in fields(ReplayResult):
            mine, theirs = getattr(total, f.name), getattr(result, f.name)
            if isinstance(mine, Counter):
                mine.update(theirs)
            elif isinstance(mine, dict):
                for change, examples in theirs.items():
                    kept = mine.setdefault(change, [])
                    kept.extend(examples[: max(0, _EXAMPLES - len(kept))])
            else:
                setattr(total, f.name, mine + theirs)
    return total
