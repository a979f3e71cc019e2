"""Keep the providers' ranges current: the IP range refresher, for rules/networks/.

Off by default, on with the same `--ipranges-refresh SECONDS`. Each snapshot whose
header names a `format` (a document the refresher can read: AWS, Google Cloud,
Oracle, Cloudflare, Fastly, GitHub, the geofeeds) is fetched from its `source`
with the same limits as the IP ranges (https only, size- and time-limited, few
redirects), converted by proxy.identity.networkformats, and checked by the same
parser as the shipped files. Only a copy that passes is written, atomically, to
`<state>/networks/<name>.txt`; any failure keeps the last good copy and logs a
warning. `on_update` then reloads the rules, which compile the saved copies in
place of the shipped ones (proxy.identity.networks.use_saved_copies) in a
thread, so the event loop never waits for a compile.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from proxy.errors import Problem
from proxy.identity.ipranges import IpRanges
from proxy.identity.networkformats import convert, render
from proxy.identity.networks import AGGREGATE, Networks, NetworkSnapshot, parse_snapshot_text
from proxy.net.iprefresh import IpRangeRefresher

log = logging.getLogger(__name__)

MAX_BYTES = 16 * 1024 * 1024  # AWS's document is 2.6 MB and growing


class NetworkRefresher(IpRangeRefresher):
    """Refreshes every refreshable snapshot of `networks`, every `interval` seconds."""

    def __init__(
        self,
        networks: Networks,
        state_dir: Path,
        on_update: Callable[[], Awaitable[object]],
        *,
        interval: float = 24 * 3600.0,
        timeout: float = 30.0,
        max_bytes: int = MAX_BYTES,
        allow_http: bool = False,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(
            IpRanges(),
            state_dir,
            lambda name, snapshot: None,
            interval=interval,
            timeout=timeout,
            max_bytes=max_bytes,
            allow_http=allow_http,
            now=now,
        )
        self._snapshots = {n: s for n, s in networks.snapshots.items() if s.format}
        self._sources = {n: s.source for n, s in self._snapshots.items()}
        self._directory = state_dir / "networks"
        self._on_networks = on_update

    async def refresh_all(self) -> int:
        updated = await super().refresh_all()
        if updated:
            try:
                await self._on_networks()
            except Exception:
                log.exception("provider ranges: reloading after a refresh failed")
        return updated

    async def refresh(self, session: aiohttp.ClientSession, name: str, url: str) -> bool:
        """Fetch, convert, check and save one snapshot; on any failure keep the last copy."""
        shipped = self._snapshots[name]
        try:
            document = (await self._fetch(session, url)).decode("utf-8")
            fetched = self._now().strftime("%Y-%m-%dT%H:%M:%SZ")
            text = render(_header(shipped, fetched), convert(shipped.format, document))
            problems: list[Problem] = []
            if parse_snapshot_text(text, name, name, problems) is None:
                raise ValueError("; ".join(p.message for p in problems[:3]))
        except Exception as e:  # network, status, size, format: all keep the old copy
            log.warning("provider ranges %s: keeping the last good copy; %s: %s", name, url, e)
            return False
        try:
            await asyncio.to_thread(self._write, name, text)
        except OSError as e:
            log.warning("provider ranges %s: cannot save to %s: %s", name, self._directory, e)
            return False
        return True

    def _write(self, name: str, text: str) -> None:
        self._directory.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=self._directory, prefix=f".{name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temp, self._directory / f"{name}.txt")
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise


def _header(shipped: NetworkSnapshot, fetched: str) -> dict[str, str]:
    header = {"name": shipped.name, "provider": shipped.provider, "source": shipped.source}
    header |= {"snapshot": f"fetched {fetched}", "format": shipped.format}
    if shipped.aggregate:
        header["tier"] = AGGREGATE
    return header
