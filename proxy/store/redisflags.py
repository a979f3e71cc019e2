"""Flags in Redis, read from a local mirror that Redis keeps current by pub/sub.

Every request asks for the flags held against its client, so a round trip per
request would put Redis's latency on every page a person loads. Instead each
process keeps all flags in memory (a FlagStore, bounded as today's) and Redis
tells it of new ones: `flag()` writes the keys (`SET … PX ttl`, the truth) and
publishes them on `optout:flags`; every process's listener adds what it hears
to its mirror, within milliseconds. On (re)subscribing, the listener first
subscribes, then reads every flag key with its remaining TTL (SCAN + PTTL), so
no flag set in between is missed, and sends the flags this process set while
Redis was away. Reads never wait for Redis, up or down.

A listener that hears nothing, not even the answer to its own PING, for
`SILENT` seconds reconnects: a peer gone without a reset is noticed too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from proxy.decision.trap import FlagStore
from proxy.store.shared import PREFIX

log = logging.getLogger(__name__)
CHANNEL = PREFIX + "flags"
FLAG_KEYS = PREFIX + "flag:"
PING_EVERY = 5.0
SILENT = 3 * PING_EVERY
RETRY_AFTER = 1.0
MAX_UNSENT = 10_000
MAX_KEYS = 16  # per message: a request flags its address and perhaps its JA4


def flag_key(flag: str, key: str) -> str:
    return f"{FLAG_KEYS}{flag}:{key}"


def parse_message(data: Any) -> tuple[str, list[str], float] | None:
    """(flag, keys, ttl seconds) of a message on the channel; None for anything else."""
    try:
        found = json.loads(data)
        flag, keys, ttl_ms = found["flag"], found["keys"], found["ttl_ms"]
    except (ValueError, TypeError, KeyError):
        return None
    valid_keys = isinstance(keys, list) and 0 < len(keys) <= MAX_KEYS
    if not (isinstance(flag, str) and valid_keys and all(isinstance(k, str) for k in keys)):
        return None
    if isinstance(ttl_ms, bool) or not isinstance(ttl_ms, int) or ttl_ms <= 0:
        return None
    return flag, keys, ttl_ms / 1000


class FlagMirror:
    """Publishes flags and keeps `mirror` current from Redis, in one background task."""

    def __init__(
        self,
        client: Redis,
        mirror: FlagStore,
        *,
        on_down: Callable[[BaseException], None],
        on_up: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client, self.mirror = client, mirror
        self._on_down, self._on_up = on_down, on_up
        self._clock = clock
        self._unsent: OrderedDict[tuple[str, str], float] = OrderedDict()  # (flag, key): until
        self._task: asyncio.Task[None] | None = None
        self.synced = asyncio.Event()  # set while subscribed and caught up

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._listen())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, RedisError, OSError):
                pass

    async def publish(self, keys: Sequence[str], flag: str, ttl: float) -> None:
        """Set the flag keys and tell the others; raises if Redis does not take them."""
        ttl_ms = max(1, int(ttl * 1000))
        message = json.dumps({"flag": flag, "keys": list(keys)[:MAX_KEYS], "ttl_ms": ttl_ms})
        async with self.client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.set(flag_key(flag, key), "1", px=ttl_ms)
            pipe.publish(CHANNEL, message)
            await pipe.execute()

    def keep_unsent(self, keys: Sequence[str], flag: str, ttl: float) -> None:
        """A flag Redis did not take: sent when it answers again, if still in force."""
        until = self._clock() + ttl
        for key in keys:
            self._unsent.pop((flag, key), None)
            self._unsent[(flag, key)] = until
        while len(self._unsent) > MAX_UNSENT:
            self._unsent.popitem(last=False)

    async def _listen(self) -> None:
        while True:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # whatever broke, the listener must come back
                self.synced.clear()
                self._on_down(e)
            await asyncio.sleep(RETRY_AFTER)

    async def _follow(self) -> None:
        async with self.client.pubsub() as pubsub:
            await pubsub.subscribe(CHANNEL)
            await self._resync()
            self.synced.set()
            self._on_up()
            heard = pinged = self._clock()
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                now = self._clock()
                if message is not None:
                    heard = now
                    if message.get("type") == "message":
                        found = parse_message(message.get("data"))
                        if found is not None:
                            self.mirror.flag(found[1], found[0], found[2])
                if now - heard > SILENT:
                    raise TimeoutError(f"no word from Redis on {CHANNEL} for {SILENT:.0f} s")
                if now - pinged >= PING_EVERY:
                    await pubsub.ping()
                    pinged = now

    async def _resync(self) -> None:
        """Every flag in Redis into the mirror, then the ones Redis missed into Redis."""
        async with asyncio.timeout(30):
            batch: list[str] = []
            async for name in self.client.scan_iter(match=FLAG_KEYS + "*", count=1000):
                batch.append(name)
                if len(batch) >= 500:
                    await self._mirror(batch)
                    batch = []
            await self._mirror(batch)
            now = self._clock()
            while self._unsent:
                (flag, key), until = self._unsent.popitem(last=False)
                if until > now:
                    await self.publish([key], flag, until - now)

    async def _mirror(self, names: list[str]) -> None:
        if not names:
            return
        async with self.client.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.pttl(name)
            ttls = await pipe.execute()
        for name, ttl_ms in zip(names, ttls, strict=True):
            flag, sep, key = name.removeprefix(FLAG_KEYS).partition(":")
            if sep and isinstance(ttl_ms, int) and ttl_ms > 0:
                self.mirror.flag([key], flag, ttl_ms / 1000)
