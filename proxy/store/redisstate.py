"""SharedState in Redis (or Valkey): `--store redis://HOST:PORT/DB`, `rediss://`, `unix://`.

Design. Requests are served on one event loop, so every call is redis-py's
asyncio client under `asyncio.timeout(--store-timeout)` (50 ms by default; a
loopback or in-cluster round trip takes well under 1 ms). redis-py's own retries
are off: a retry would stretch the bound. A call that fails or times out is
answered as if the store were empty, except that throttling and flags fall back
to this process's memory (`MemoryState`): requests are always served, and still
limited per process while Redis is away. The failure is counted
(`optout_store_errors_total{operation}`), the first one logged; for the next
second every call goes straight to the fallback (no request waits for a store
known to be down), then one tries Redis again, so service resumes on its own
when Redis answers.

Throttle buckets are one Lua script (`BUCKET_SCRIPT`): Redis runs a script
atomically, so concurrent takes from any number of processes are exact, and the
bucket's time is Redis's own clock (`TIME`), so replicas' clocks need not agree.
The takes of one moment go in one pipeline (proxy.store.redisbatch).
A bucket expires once it would be full again, which is the same as not existing.
Flags are keys with a TTL (`SET … PX`) that every process mirrors in memory,
kept current by pub/sub (proxy.store.redisflags), so reading them costs no round
trip. Verdicts are keys with a TTL; charges one hash per rule, agent and
currency, counted with `HINCRBY` (count, and amount in millionths).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from proxy.decision.challengestore import KeyStore
from proxy.decision.throttle import ThrottleResult
from proxy.ops.metrics import Metrics
from proxy.prices import Price
from proxy.store.redisbatch import ScriptBatcher
from proxy.store.redisflags import FlagMirror
from proxy.store.rediskeys import RedisKeys
from proxy.store.shared import PREFIX, MemoryState, charge_units, redact

log = logging.getLogger(__name__)
T = TypeVar("T")
DEFAULT_TIMEOUT = 0.05
DOWN_FOR = 1.0  # seconds calls go to the fallback after a failure, before Redis is tried again
MAX_CONNECTIONS = 64  # per process; a request waits (within the timeout) for a free one
_EPSILON = 1e-9  # as proxy.decision.throttle

# KEYS[1] bucket; ARGV rate (tokens/s), burst. Returns {allowed 0|1, seconds to wait}.
# The same arithmetic as proxy.decision.throttle.Throttle.take.
BUCKET_SCRIPT = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local tokens, stamp = burst, now
local saved = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
if saved[1] and saved[2] then
  tokens = math.min(burst, tonumber(saved[1]) + math.max(0, now - tonumber(saved[2])) * rate)
end
local allowed, wait = 0, 0
if tokens >= 1 - 1e-9 then
  tokens, allowed = math.max(0, tokens - 1), 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
  'stamp', string.format('%.6f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return {allowed, string.format('%.17g', wait)}
"""


class RedisState:
    """SharedState in Redis, failing over to `fallback` (bounded, counted, logged once)."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        on_error: Callable[[str], None] = lambda operation: None,
        on_state: Callable[[bool], None] = lambda up: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url, self.shown = url, redact(url)
        self.timeout = timeout
        self.fallback = MemoryState()
        self.errors = 0  # calls answered without Redis: failed, or skipped while it was down
        self.failures = 0  # calls that failed or timed out
        self._on_error, self._on_state = on_error, on_state
        self._clock = clock
        self._down_until = 0.0
        self.up = True  # as far as the last call knows
        no_retry = Retry(NoBackoff(), 0)
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=MAX_CONNECTIONS,
            timeout=timeout,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=no_retry,
            decode_responses=True,
            driver_info=None,  # no CLIENT SETINFO on each new connection: it counts in the bound
        )
        self.client = Redis(connection_pool=pool, retry=no_retry)
        self._bucket = ScriptBatcher(self.client, BUCKET_SCRIPT)
        self.keys = RedisKeys(self.client, timeout=max(timeout, 1.0))
        self.mirror = FlagMirror(
            self.client,
            self.fallback.flag_store,
            on_down=lambda e: self._failed("subscribe", e),
            on_up=self._recovered,
        )

    async def take(self, bucket: str, rate: float, burst: int) -> ThrottleResult:
        def fallback() -> ThrottleResult:
            return self.fallback.take_now(bucket, rate, burst)

        async def call() -> ThrottleResult:
            allowed, wait = await self._bucket.call(PREFIX + "tb:" + bucket, rate, burst)
            if int(allowed):
                return ThrottleResult(True, 0)
            return ThrottleResult(False, max(1, math.ceil(float(wait) - _EPSILON)))

        return await self._call("throttle", call, fallback)

    async def flag(self, keys: Sequence[str], flag: str, ttl: float) -> None:
        self.mirror.start()
        await self.fallback.flag(keys, flag, ttl)  # in force here at once, Redis or not

        async def call() -> None:
            await self.mirror.publish(keys, flag, ttl)

        await self._call("flag", call, lambda: self.mirror.keep_unsent(keys, flag, ttl))

    async def flags(self, keys: Sequence[str], names: Sequence[str]) -> frozenset[str]:
        """From the mirror (proxy.store.redisflags): no request waits for Redis to read flags."""
        self.mirror.start()
        return await self.fallback.flags(keys, names)

    async def get_verdict(self, key: str) -> str | None:
        async def call() -> str | None:
            found = await self.client.get(PREFIX + "fcrdns:" + key)
            return found if isinstance(found, str) else None

        return await self._call("verdict", call, lambda: None)

    async def put_verdict(self, key: str, value: str, ttl: float) -> None:
        async def call() -> None:
            await self.client.set(PREFIX + "fcrdns:" + key, value, px=max(1, int(ttl * 1000)))

        await self._call("verdict", call, lambda: None)

    async def count_charge(self, rule: str, agent: str, price: Price) -> None:
        await self.fallback.count_charge(rule, agent, price)
        name = PREFIX + "charge:" + _json([rule, agent, price.currency])

        async def call() -> None:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hincrby(name, "count", 1)
                pipe.hincrby(name, "units", charge_units(price))
                await pipe.execute()

        await self._call("charge", call, lambda: None)

    async def start(self, wait: float = 1.0) -> None:
        """Start following the flags and read the challenge keys, waiting up to `wait` s:
        a process that starts beside others refuses their flagged clients at once, and
        accepts their cookies."""
        self.mirror.start()
        try:
            async with asyncio.timeout(wait):
                await self.mirror.synced.wait()
                await self.keys.refresh(time.time())
        except (RedisError, OSError, TimeoutError):
            pass  # Redis is away or slow: the listener goes on trying, requests do not wait

    def challenge_keys(self, local: KeyStore) -> KeyStore:
        """The challenge keys of every process; `local` signs while Redis cannot be read."""
        self.keys.fallback = local
        return self.keys

    def count_in(self, metrics: Metrics) -> None:
        """Count failures in `optout_store_errors_total`, and the state in `optout_store_up`."""
        self._on_error = lambda operation: metrics.store_errors.labels(operation).inc()
        self._on_state = lambda up: metrics.store_up.set(1 if up else 0)
        metrics.store_up.set(1 if self.up else 0)

    async def ping(self, wait: float) -> bool:
        """Whether Redis answers within `wait` s (for --check), bypassing the breaker."""
        try:
            async with asyncio.timeout(wait):
                return bool(await self.client.ping())
        except (RedisError, OSError, TimeoutError):
            return False

    async def close(self) -> None:
        await self.mirror.close()
        await self.client.aclose()
        await self.client.connection_pool.disconnect()

    async def _call(
        self, operation: str, call: Callable[[], Awaitable[T]], fallback: Callable[[], T]
    ) -> T:
        if self._down_until and self._clock() < self._down_until:
            self._count(operation)
            return fallback()
        try:
            async with asyncio.timeout(self.timeout):
                result = await call()
        except (RedisError, OSError, TimeoutError, ValueError) as e:
            self._failed(operation, e)
            return fallback()
        self._recovered()
        return result

    def _recovered(self) -> None:
        if not self.up:
            self.up = True
            self._down_until = 0.0
            self._on_state(True)
            log.warning("shared store %s answers again: state is shared again", self.shown)

    def _failed(self, operation: str, error: BaseException) -> None:
        self.failures += 1
        self._count(operation)
        self._down_until = self._clock() + DOWN_FOR
        if self.up:
            self.up = False
            self._on_state(False)
            reason = "timeout" if isinstance(error, TimeoutError) else _describe(error)
            log.warning(
                "shared store %s unavailable (%s on %s): throttles and flags are this "
                "process's own until it answers; retried every %.0f s",
                self.shown,
                reason,
                operation,
                DOWN_FOR,
            )

    def _count(self, operation: str) -> None:
        self.errors += 1
        self._on_error(operation)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True)


def _describe(error: BaseException) -> str:
    # Never the URL or its password: redis-py's messages name host and port only.
    return f"{type(error).__name__}: {error}"[:200]


def open_store(url: str | None, timeout: float = DEFAULT_TIMEOUT) -> RedisState | None:
    """The shared store of `--store`: None for `memory` (each process keeps its own)."""
    return None if url is None else RedisState(url, timeout=timeout)
