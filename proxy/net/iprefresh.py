"""Keep the published IP ranges current: fetch, validate, persist, swap.

Operators change their crawler ranges without notice, so a snapshot shipped in
rules/ipranges/ slowly goes stale and genuine crawlers start to look spoofed. The
refresher fetches every snapshot's `source` on an interval, in the background: a
request never waits for it. A fetched list must pass the same `parse_snapshot`
check as our own files; only then is it written (atomically) to
`<state>/ipranges/<name>.json` and handed to `on_update`, which swaps the proxy's
immutable IpRanges. Any failure (network, status, size, JSON, a single bad prefix)
keeps the last good copy and logs a warning. At start-up, `load_saved` prefers a
saved copy to the shipped one when it is newer and still from the same source.

Fetches are https only (plain http is for loopback tests), size- and time-limited,
and follow at most a few redirects, each of which must stay on https.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urljoin

import aiohttp

from proxy.identity.ipranges import IpRanges, Snapshot, parse_snapshot

log = logging.getLogger(__name__)

MAX_BYTES = 2 * 1024 * 1024
_MAX_REDIRECTS = 3
_REDIRECTS = {301, 302, 303, 307, 308}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class FetchError(Exception):
    """A fetch that did not produce a document (status, size, scheme, redirects)."""


class IpRangeRefresher:
    """Refreshes every snapshot of `ranges` from its source, every `interval` seconds."""

    def __init__(
        self,
        ranges: IpRanges,
        state_dir: Path,
        on_update: Callable[[str, Snapshot], None],
        *,
        interval: float = 24 * 3600.0,
        timeout: float = 10.0,
        max_bytes: int = MAX_BYTES,
        allow_http: bool = False,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sources = {name: ranges.snapshots[name].source for name in ranges.names}
        self._directory = state_dir / "ipranges"
        self._on_update = on_update
        self._interval, self._timeout, self._max_bytes = interval, timeout, max_bytes
        self._schemes = ("https", "http") if allow_http else ("https",)
        self._now = now

    async def run(self) -> None:
        """Refresh forever; cancel the task to stop. Never raises anything else."""
        while True:
            await self.refresh_all()
            await asyncio.sleep(self._interval)

    async def refresh_all(self) -> int:
        """One round over every snapshot; returns how many were updated."""
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                results = [await self.refresh(session, n, u) for n, u in self._sources.items()]
        except Exception as e:  # a broken session must not end the loop
            log.warning("IP range refresh failed: %r", e)
            return 0
        return sum(results)

    async def refresh(self, session: aiohttp.ClientSession, name: str, url: str) -> bool:
        """Fetch, check and install one snapshot; on any failure keep the last good copy."""
        try:
            data = json.loads(await self._fetch(session, url))
            fetched = self._now().strftime("%Y-%m-%dT%H:%M:%SZ")
            snapshot = parse_snapshot(data, name, source=url, note=f"fetched {fetched}")
        except Exception as e:  # network, status, size, JSON, prefixes: all keep the old copy
            log.warning("IP ranges %s: keeping the last good copy; %s: %s", name, url, _why(e))
            return False
        try:
            await asyncio.to_thread(self._save, snapshot, fetched)
        except OSError as e:
            log.warning("IP ranges %s: cannot save to %s: %s", name, self._directory, e)
        try:
            self._on_update(name, snapshot)
        except Exception:
            log.exception("IP ranges %s: on_update failed", name)
            return False
        return True

    async def _fetch(self, session: aiohttp.ClientSession, url: str) -> bytes:
        for _ in range(_MAX_REDIRECTS + 1):
            if not url.startswith(tuple(f"{s}://" for s in self._schemes)):
                raise FetchError(f"refusing {url!r}: only https URLs are fetched")
            async with session.get(url, allow_redirects=False) as response:
                if response.status in _REDIRECTS and "Location" in response.headers:
                    url = urljoin(url, response.headers["Location"])
                    continue
                if response.status != 200:
                    raise FetchError(f"HTTP {response.status}")
                return await self._read(response)
        raise FetchError(f"more than {_MAX_REDIRECTS} redirects")

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        length = response.content_length
        if length is not None and length > self._max_bytes:
            raise FetchError(f"{length} bytes is over the {self._max_bytes} byte limit")
        body = bytearray()
        async for chunk in response.content.iter_chunked(64 * 1024):
            body += chunk
            if len(body) > self._max_bytes:
                raise FetchError(f"body is over the {self._max_bytes} byte limit")
        return bytes(body)

    def _save(self, snapshot: Snapshot, fetched: str) -> None:
        document = {**snapshot_document(snapshot), "fetched_at": fetched}
        self._directory.mkdir(parents=True, exist_ok=True)
        target = self._directory / f"{snapshot.name}.json"
        fd, temp = tempfile.mkstemp(dir=self._directory, prefix=f".{snapshot.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(document, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise


def _why(error: BaseException) -> str:
    return "timeout" if isinstance(error, TimeoutError) else str(error) or repr(error)


def snapshot_document(snapshot: Snapshot) -> dict[str, object]:
    """The JSON form of a snapshot, as rules/ipranges/ holds it."""
    prefixes = [{f"ipv{n.version}Prefix": str(n)} for n in snapshot.networks]
    return {
        "name": snapshot.name,
        "source": snapshot.source,
        "snapshot": snapshot.note,
        "prefixes": prefixes,
    }


def load_saved(state_dir: Path, shipped: IpRanges) -> IpRanges:
    """`shipped`, with each snapshot replaced by its saved copy when that one is newer.

    A saved copy counts only if it comes from the same source URL (a release that moved
    a source must not be overridden by a copy of the old one) and was fetched on or
    after the date in the shipped snapshot's note; a note without a date loses to any
    fetched copy. A broken saved file is logged and ignored: the state dir is ours to
    rewrite, not a rules file.
    """
    ranges = shipped
    for name in shipped.names:
        path = state_dir / "ipranges" / f"{name}.json"
        if not path.exists():
            continue
        try:
            saved, fetched = _read_saved(path, name)
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.warning("IP ranges %s: ignoring saved copy %s: %s", name, path, e)
            continue
        source, note = shipped.info(name)
        shipped_date = _DATE.search(note)
        if saved.source == source and (not shipped_date or fetched >= shipped_date.group()):
            ranges = ranges.replace(name, saved)
    return ranges


def _read_saved(path: Path, name: str) -> tuple[Snapshot, str]:
    data = json.loads(path.read_text(encoding="utf-8"))
    fetched = str(data["fetched_at"])
    if not _DATE.match(fetched):
        raise ValueError(f"fetched_at {fetched!r} is not a date")
    snapshot = parse_snapshot(data, name, source=str(data["source"]), note=str(data["snapshot"]))
    return snapshot, fetched
