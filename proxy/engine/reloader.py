"""Reload the rules while serving: on a file change, on SIGHUP and on POST /reload.

All three triggers go through `Reloader.reload(reason)`. It loads the rules
directory in a worker thread, so a large catalogue never stalls the requests
being served, and then swaps `pipeline.ruleset` in one assignment on the event
loop. A request already in flight keeps the Ruleset that the Classify addon stored
on its flow, so it is decided, signalled and logged under one version of the rules.

Invalid rules never replace valid ones: the old rules keep serving, and every
problem is logged, counted in the metrics and returned to the caller. Reloads are
serialised by a lock, so two triggers at once load one after the other and the
rules in force are always those of the last complete load.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from watchfiles import Change, awatch

from proxy.config.sites import SITES_FILE
from proxy.engine.pipeline import Pipeline
from proxy.errors import Problem, RuleError
from proxy.ops.metrics import Metrics
from proxy.ruleset import Ruleset, load_rules

log = logging.getLogger(__name__)

QUIET_MS = 200  # a change is acted on once the files have been quiet this long
RULE_SUFFIXES = (".yaml", ".json")


@dataclass(frozen=True, slots=True)
class ReloadResult:
    ok: bool
    version: str  # the version in force afterwards: the new one, or the old on failure
    errors: tuple[str, ...] = ()  # one line per problem, as `optout check` prints them


def rules_files(directory: Path) -> list[Path]:
    """The files `load_rules` reads, in a stable order.

    Every YAML file at the top: policy.yaml, sites.yaml and the sites' own
    policies. Certificate files named by sites.yaml live elsewhere and are not
    watched: a renewed certificate is picked up by SIGHUP or POST /reload.
    """
    files = sorted(f for f in directory.glob("*.yaml") if not f.name.startswith((".", "#")))
    files += sorted((directory / "agents").glob("*.yaml"))
    files += sorted((directory / "ipranges").glob("*.json"))
    files += sorted((directory / "networks").glob("*.txt"))
    return [f for f in files if f.is_file()]


def rules_version(directory: Path) -> str:
    """A short sha256 of the rules files' names and contents: equal files, equal version."""
    digest = hashlib.sha256()
    for path in rules_files(directory):
        digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"\xff unreadable")
        digest.update(b"\0")
    return digest.hexdigest()[:12]


def is_rules_file(change: Change, path: str) -> bool:
    """Editors' swap and backup files are not rules and must not trigger a reload."""
    name = Path(path).name
    return name.endswith(RULE_SUFFIXES) and not name.startswith((".", "#", "~"))


class Reloader:
    def __init__(
        self,
        pipeline: Pipeline,
        metrics: Metrics,
        on_swap: Iterable[Callable[[Ruleset], None]] = (),
        clock: Callable[[], float] = time.time,
        require_sites: bool = False,
    ) -> None:
        """`pipeline.ruleset` is the startup load; `on_swap` runs after each swap.

        `require_sites`: the proxy has no --upstream, so rules without sites.yaml
        would leave it nowhere to send requests; they are refused like invalid ones.
        """
        self.pipeline = pipeline
        self.require_sites = require_sites
        self.metrics = metrics
        self.on_swap = tuple(on_swap)
        self.clock = clock
        self.directory = pipeline.ruleset.directory
        self.version = rules_version(self.directory)
        self._lock = asyncio.Lock()
        metrics.rules_in_force(self.version, clock())
        metrics.last_reload.set(1)

    async def reload(self, reason: str) -> ReloadResult:
        """Load the rules again; swap them in if they are valid. `reason` names the trigger."""
        async with self._lock:
            try:
                version, ruleset = await asyncio.to_thread(self._load)
            except RuleError as e:
                return self._failed(reason, e)
            self.pipeline.ruleset = ruleset
            for hook in self.on_swap:
                hook(ruleset)
            previous, self.version = self.version, version
            self.metrics.rules_in_force(version, self.clock())
            self.metrics.reloaded(reason, ok=True)
            change = "unchanged" if version == previous else f"was {previous}"
            log.info("rules reloaded (%s): version %s (%s)", reason, version, change)
            return ReloadResult(True, version)

    def _load(self) -> tuple[str, Ruleset]:
        # The version is taken before the load: if a file changes in between, the
        # watcher sees that change and reloads again.
        version = rules_version(self.directory)
        ruleset = load_rules(self.directory)
        if self.require_sites and ruleset.sites is None:
            where = str(self.directory / SITES_FILE)
            raise RuleError([Problem(where, None, "missing; without --upstream it is required")])
        return version, ruleset

    def _failed(self, reason: str, error: RuleError) -> ReloadResult:
        errors = tuple(str(p) for p in error.problems)
        self.metrics.reloaded(reason, ok=False)
        log.error(
            "rules reload (%s) failed with %d problem(s); version %s keeps serving",
            reason,
            len(errors),
            self.version,
        )
        for line in errors:
            log.error("%s", line)
        return ReloadResult(False, self.version, errors)

    async def watch(self, stop: asyncio.Event) -> None:
        """Reload whenever a rules file changes, until `stop` is set."""
        changes = awatch(self.directory, watch_filter=is_rules_file, step=QUIET_MS, stop_event=stop)
        async for _ in changes:
            try:
                await self.reload("file")
            except Exception:
                # The watcher must outlive a surprise in one reload.
                log.exception("rules reload (file) failed unexpectedly")
