"""Challenge-cookie keys in Redis: a cookie one replica issued is accepted by all.

A KeyStore (proxy.decision.challengestore) answers on the request path without
waiting, so the keys are read ahead: the key of the current period, the one
before (still accepted) and the next are created in Redis by whichever process
comes first (`SET … NX`, kept three periods) and read into memory, at start and
whenever one of them is missing. Key ids are `r<period>`.

Until Redis has answered (or while it cannot), signing falls back to this
process's own keys (the state dir's), whose ids are plain periods: cookies signed
then are accepted by this process only, and another one challenges the client
again. Nothing is accepted that no key signed.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable

from redis.asyncio import Redis

from proxy.decision.challengestore import KEY_BYTES, PERIOD, KeyStore, MemoryKeys
from proxy.store.shared import PREFIX

log = logging.getLogger(__name__)
KEY_NAMES = PREFIX + "challenge-key:"
RETRY_AFTER = 1.0


class RedisKeys:
    def __init__(
        self,
        client: Redis,
        fallback: KeyStore | None = None,
        *,
        period: int = PERIOD,
        timeout: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.fallback: KeyStore = fallback if fallback is not None else MemoryKeys(period)
        self.period, self.timeout = period, timeout
        self._clock = clock
        self._keys: dict[int, bytes] = {}
        self._task: asyncio.Task[None] | None = None
        self._next_try = 0.0

    def signing_key(self, now: float) -> tuple[str, bytes]:
        epoch = int(now // self.period)
        self._read_ahead(now)
        key = self._keys.get(epoch)
        if key is None:
            return self.fallback.signing_key(now)
        return f"r{epoch}", key

    def key(self, key_id: str, now: float) -> bytes | None:
        if not key_id.startswith("r"):
            return self.fallback.key(key_id, now)
        digits = key_id[1:]
        if not digits.isdigit() or len(digits) > 12:
            return None
        epoch, current = int(digits), int(now // self.period)
        if epoch not in (current, current - 1):
            return None
        self._read_ahead(now)
        return self._keys.get(epoch)

    async def refresh(self, now: float) -> None:
        """Create (first process wins) and read the keys of the previous, current and next
        periods. Raises what Redis raised."""
        current = int(now // self.period)
        for epoch in (current - 1, current, current + 1):
            if epoch in self._keys:
                continue
            name = f"{KEY_NAMES}{epoch}"
            if epoch >= current:
                fresh = secrets.token_bytes(KEY_BYTES).hex()
                await self.client.set(name, fresh, nx=True, px=3 * self.period * 1000)
            value = await self.client.get(name)
            if isinstance(value, str) and len(value) >= 32:
                self._keys[epoch] = bytes.fromhex(value)
        for epoch in [e for e in self._keys if e < current - 1]:
            del self._keys[epoch]

    def _read_ahead(self, now: float) -> None:
        """Start a refresh in the background when a key it should hold is missing."""
        current = int(now // self.period)
        if all(e in self._keys for e in (current, current + 1)):
            return
        if (self._task is not None and not self._task.done()) or self._clock() < self._next_try:
            return
        self._next_try = self._clock() + RETRY_AFTER
        self._task = asyncio.get_running_loop().create_task(self._refresh_quietly(now))

    async def _refresh_quietly(self, now: float) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                await self.refresh(now)
        except Exception as e:  # the request path never sees it: the fallback signs
            log.debug("challenge keys not read from the shared store: %r", e)
