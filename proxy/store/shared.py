"""What several proxy processes must agree on, behind one small interface.

Behind a balancer, or with several workers, each process would otherwise keep
its own throttle buckets (a `60/min` rule admits 60 × replicas), its own trap
flags (a crawler caught on one replica is welcome on the next) and its own
reverse-DNS verdicts. `SharedState` is what moves into a shared store
(`--store redis://…`, proxy.store.redisstate): token buckets, flags with a
TTL, FCrDNS verdicts, a counter per charge, and the challenge-cookie keys. The
access log and the charges ledger stay per process: they are evidence, files
with their own chains.

With the default `--store memory` the addons keep today's in-process state
(proxy.decision.throttle, proxy.decision.trap) on their synchronous path and no
`SharedState` exists; `MemoryState` is the same state behind this interface,
what the Redis store falls back to while Redis cannot be reached, and the
baseline of bench/store.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Hashable, Sequence
from decimal import Decimal
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from proxy.decision.challengestore import KeyStore
from proxy.decision.throttle import Throttle, ThrottleResult
from proxy.decision.trap import FlagStore
from proxy.prices import MAX_DECIMALS, Price

MEMORY = "memory"
SCHEMES = ("redis", "rediss", "unix")
PREFIX = "optout:"  # every key the proxy writes starts with it
CHARGE_UNITS = 10**MAX_DECIMALS  # charged amounts are counted in millionths, exactly


class SharedState(Protocol):
    """State every process sees alike. No method raises for a store that is down:
    each answers as if the store were empty (fail open), and counts the failure."""

    async def take(self, bucket: str, rate: float, burst: int) -> ThrottleResult:
        """One token from the token bucket `bucket` (rate tokens/s, up to burst)."""
        ...

    async def flag(self, keys: Sequence[str], flag: str, ttl: float) -> None: ...

    async def flags(self, keys: Sequence[str], names: Sequence[str]) -> frozenset[str]:
        """Which of the flags `names` are held against any of `keys`."""
        ...

    async def get_verdict(self, key: str) -> str | None: ...

    async def put_verdict(self, key: str, value: str, ttl: float) -> None: ...

    async def count_charge(self, rule: str, agent: str, price: Price) -> None: ...

    def challenge_keys(self, local: KeyStore) -> KeyStore:
        """The challenge-cookie keys every process signs and checks with; `local` is this
        process's own, used while the store cannot be read."""
        ...

    async def close(self) -> None: ...


def bucket_name(rule: str, rate: tuple[float, int], key: Hashable) -> str:
    """The shared name of a throttle bucket: one per rule, rate and key, as act.Buckets keys.

    JSON keeps the parts apart whatever an agent name holds (a `:` or a quote).
    """
    return json.dumps([rule, rate[0], rate[1], key], separators=(",", ":"), ensure_ascii=True)


def charge_units(price: Price) -> int:
    """The amount in millionths of the currency: prices have at most six decimals."""
    return int((price.amount * CHARGE_UNITS).to_integral_value())


def units_to_amount(units: int) -> Decimal:
    return Decimal(units).scaleb(-MAX_DECIMALS)


def parse_store(value: str) -> str | None:
    """`memory` (None: in-process state) or a Redis URL, checked. Raises ValueError
    naming the value, with any password in it replaced by `***`."""
    text = value.strip()
    if text.lower() == MEMORY:
        return None
    parts = urlsplit(text)
    shown = redact(text)
    if parts.scheme not in SCHEMES:
        raise ValueError(
            f"store {shown!r} must be 'memory' or a redis://HOST[:PORT][/DB], rediss:// "
            "or unix:///PATH URL"
        )
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"store {shown!r} has an invalid port") from None
    if parts.scheme == "unix":
        if not parts.path or parts.netloc.rpartition("@")[2]:
            raise ValueError(f"store {shown!r} must be unix:///PATH/TO/redis.sock")
    elif not parts.hostname:
        raise ValueError(f"store {shown!r} names no host")
    elif port == 0:
        raise ValueError(f"store {shown!r} has an invalid port")
    elif parts.path.strip("/") and not parts.path.strip("/").isdigit():
        raise ValueError(f"store {shown!r}: the database must be a number, like /0")
    return text


def redact(url: str) -> str:
    """The URL as it may be logged: a password in it replaced by `***`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


class MemoryState:
    """SharedState in one process: today's buckets and flags, a verdict dict, charge counts."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._throttles: dict[tuple[float, int], Throttle] = {}
        self.flag_store = FlagStore(clock=clock)
        self._verdicts: dict[str, tuple[float, str]] = {}
        self.charges: dict[tuple[str, str, str], tuple[int, int]] = {}  # count, units

    async def take(self, bucket: str, rate: float, burst: int) -> ThrottleResult:
        return self.take_now(bucket, rate, burst)

    def take_now(self, bucket: str, rate: float, burst: int) -> ThrottleResult:
        throttle = self._throttles.get((rate, burst))
        if throttle is None:
            throttle = self._throttles[(rate, burst)] = Throttle(rate, burst, clock=self._clock)
        return throttle.take(bucket)

    async def flag(self, keys: Sequence[str], flag: str, ttl: float) -> None:
        self.flag_store.flag(keys, flag, ttl)

    async def flags(self, keys: Sequence[str], names: Sequence[str]) -> frozenset[str]:
        return self.flag_store.flags(keys) & frozenset(names)

    async def get_verdict(self, key: str) -> str | None:
        found = self._verdicts.get(key)
        if found is None or found[0] <= self._clock():
            self._verdicts.pop(key, None)
            return None
        return found[1]

    async def put_verdict(self, key: str, value: str, ttl: float) -> None:
        if len(self._verdicts) >= 10_000:
            self._verdicts.clear()  # a cache: bounded, refilled by lookups
        self._verdicts[key] = (self._clock() + ttl, value)

    async def count_charge(self, rule: str, agent: str, price: Price) -> None:
        key = (rule, agent, price.currency)
        count, units = self.charges.get(key, (0, 0))
        self.charges[key] = (count + 1, units + charge_units(price))

    def challenge_keys(self, local: KeyStore) -> KeyStore:
        return local

    async def close(self) -> None:
        return None
