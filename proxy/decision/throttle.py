"""Throttling: a token bucket per key, with memory bounded however many keys appear.

A key is whatever the caller limits on: an agent, or an (agent, client address) pair.
Each bucket holds up to `burst` tokens and refills at `rate` tokens a second; a request
takes one, and a request finding none is refused with the whole seconds until one is
back (`Retry-After`). Refused requests take nothing, so a client that waits as told
always gets through.

The buckets live in an LRU capped at `max_keys`. An evicted key starts full again if it
comes back, which lets that client through a little early. That is acceptable because
eviction only happens under a flood of distinct keys (addresses), which is when a
per-address limit matters least; and a per-agent key, touched by every request of its
agent, is only evicted after `max_keys` other keys were used since its agent last came.

Pure and single-threaded: no asyncio, no locks; the clock is injected for tests.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import NamedTuple

from proxy.config.rule import MAX_BURST

_EPSILON = 1e-9  # float slack, so a refill of exactly one token counts as one


class ThrottleResult(NamedTuple):
    allowed: bool
    retry_after: int  # whole seconds, >= 1 when refused, 0 when allowed


class _Bucket:
    __slots__ = ("stamp", "tokens")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens = tokens
        self.stamp = stamp


class Throttle:
    """Token buckets keyed by anything hashable, the least recently used evicted first."""

    def __init__(
        self,
        rate: float,
        burst: int,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (math.isfinite(rate) and rate > 0):
            raise ValueError(f"rate {rate!r} must be a positive number of requests a second")
        if isinstance(burst, bool) or not isinstance(burst, int) or not 1 <= burst <= MAX_BURST:
            raise ValueError(f"burst {burst!r} must be a whole number from 1 to {MAX_BURST}")
        if max_keys < 1:
            raise ValueError(f"max_keys {max_keys!r} must be at least 1")
        self.rate, self.burst, self.max_keys = float(rate), burst, max_keys
        self._clock = clock
        self._buckets: OrderedDict[Hashable, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: Hashable) -> ThrottleResult:
        """Take one token for `key`: allowed, or refused with the seconds to wait."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._buckets.popitem(last=False)
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        else:
            self._buckets.move_to_end(key)
            elapsed = max(0.0, now - bucket.stamp)  # an injected clock may step back
            bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate)
            bucket.stamp = now
        if bucket.tokens >= 1.0 - _EPSILON:
            bucket.tokens = max(0.0, bucket.tokens - 1.0)
            return ThrottleResult(True, 0)
        wait = (1.0 - bucket.tokens) / self.rate
        return ThrottleResult(False, max(1, math.ceil(wait - _EPSILON)))
