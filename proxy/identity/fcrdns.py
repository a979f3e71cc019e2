"""Forward-confirmed reverse DNS: is this address really one of the operator's crawlers?

Operators such as Google, Microsoft, Apple and Amazon document a DNS domain instead of
(or besides) an IP list. Anyone can make the PTR record of their own address say
`crawl-1-2-3-4.googlebot.com`, so the PTR alone proves nothing; only the operator can
make that name resolve back to the address. The check is therefore:

1. PTR of the client address gives one or more host names;
2. a host name must belong to one of the agent's documented domains, either
   - its registered domain (tldextract, bundled public suffix list, ICANN part only)
     equals the documented domain (`googlebot.com`), or
   - the documented domain is a zone below a registered domain
     (`crawl.amazonbot.amazon`, `gae.googleusercontent.com`, `search.msn.com`) and
     the host name is that zone or ends with "." + it.
   A documented domain that is itself a public suffix (`amazon`, `co.uk`) never
   matches: it would let anyone who registers a name under it pass;
3. the forward lookup (A and AAAA) of that host name must include the address.

DNS is slow and sometimes down, so checks run with an overall timeout, bounded
concurrency, a TTL cache and in-flight deduplication. A timeout or resolver failure
is `inconclusive` (not evidence of spoofing) and is cached only briefly. The core does
no network I/O itself: the lookups go through the injected `Resolver`
(proxy/net/dns.py in production, a fake in tests).
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import tldextract

from proxy.identity.ipranges import Address, parse_address

_EXTRACT = tldextract.TLDExtract(
    suffix_list_urls=(), cache_dir=None, include_psl_private_domains=False
)
_MAX_NAMES = 5  # PTR names tried per check; a longer PTR set is unusual and costly
_INCONCLUSIVE_TTL = 30.0  # at most; a flaky resolver must not hide a real crawler for long

_Key = tuple[str, tuple[str, ...]]


class Resolver(Protocol):
    """DNS lookups. An empty list means "no such record"; failures raise."""

    async def ptr(self, ip: str) -> list[str]: ...

    async def addresses(self, name: str) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class FcrdnsResult:
    """The outcome of one check; `hostname`/`domain` say what the PTR claimed, if anything."""

    ok: bool
    hostname: str | None
    domain: str | None
    reason: str
    inconclusive: bool = False  # timeout or resolver failure: neither verified nor spoofed


def _clean(name: str) -> str:
    return name.strip().rstrip(".").lower()


@functools.lru_cache(maxsize=4096)
def registered_domain(host: str) -> str | None:
    """`googlebot.com` for `crawl-1-2-3-4.googlebot.com`; None for a public suffix or IP."""
    parts = _EXTRACT(host)
    return f"{parts.domain}.{parts.suffix}" if parts.domain and parts.suffix else None


def domain_match(host: str, domains: tuple[str, ...]) -> str | None:
    """The documented domain `host` belongs to (rules in the module docstring), or None."""
    host = _clean(host)
    registered = registered_domain(host)
    for domain in map(_clean, domains):
        if registered is not None and registered == domain:
            return domain
        zone = registered_domain(domain) is not None
        if zone and (host == domain or host.endswith("." + domain)):
            return domain
    return None


class SharedVerdicts(Protocol):
    """Verdicts other processes found (proxy.store.shared.SharedState): text with a TTL."""

    async def get_verdict(self, key: str) -> str | None: ...

    async def put_verdict(self, key: str, value: str, ttl: float) -> None: ...


def encode_verdict(result: FcrdnsResult, expires: float) -> str:
    """A conclusive result as shared: JSON with its wall-clock expiry."""
    fields = [result.ok, result.hostname, result.domain, result.reason, expires]
    return json.dumps(fields, separators=(",", ":"))


def decode_verdict(text: str, now: float) -> tuple[FcrdnsResult, float] | None:
    """(result, seconds left) from `encode_verdict`'s text; None for anything else."""
    try:
        ok, hostname, domain, reason, expires = json.loads(text)
    except (ValueError, TypeError):
        return None
    fields_ok = isinstance(ok, bool) and isinstance(reason, str)
    names_ok = all(v is None or isinstance(v, str) for v in (hostname, domain))
    if not (fields_ok and names_ok and isinstance(expires, int | float)) or expires <= now:
        return None
    return FcrdnsResult(ok, hostname, domain, reason), float(expires) - now


class FcrdnsVerifier:
    """Runs and caches forward-confirmed reverse DNS checks through a `Resolver`."""

    def __init__(
        self,
        resolver: Resolver,
        *,
        timeout: float = 1.0,
        concurrency: int = 32,
        ttl: float = 3600.0,
        negative_ttl: float = 300.0,
        cache_size: int = 10000,
        clock: Callable[[], float] = time.monotonic,
        shared: SharedVerdicts | None = None,
    ) -> None:
        """`shared`: a cache other processes fill too, asked before the resolver."""
        self._resolver = resolver
        self._shared = shared
        self._timeout = timeout
        self._semaphore = asyncio.Semaphore(concurrency)
        self._ttl, self._negative_ttl = ttl, negative_ttl
        self._cache_size = cache_size
        self._clock = clock
        self._cache: OrderedDict[_Key, tuple[float, FcrdnsResult]] = OrderedDict()
        self._inflight: dict[_Key, asyncio.Task[FcrdnsResult]] = {}
        self.hits = 0  # answered from the cache
        self.lookups = 0  # resolver round trips started (deduplicated)
        self.shared_hits = 0  # answered by another process's verdict

    def cached(self, ip: str, domains: tuple[str, ...]) -> FcrdnsResult | None:
        """The cached result, if fresh; never waits (for callers that must not block)."""
        key = _key(ip, domains)
        return None if key is None else self._get(key)

    async def check(self, ip: str, domains: tuple[str, ...]) -> FcrdnsResult:
        """Check `ip` against `domains`. Never raises (except the caller's cancellation)."""
        key = _key(ip, domains)
        if key is None:
            return FcrdnsResult(False, None, None, f"invalid address {ip!r}")
        hit = self._get(key)
        if hit is not None:
            return hit
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.create_task(self._run(key))
            self._inflight[key] = task
        # Shielded: a cancelled caller must not cancel the lookup others are waiting for.
        return await asyncio.shield(task)

    def _get(self, key: _Key) -> FcrdnsResult | None:
        entry = self._cache.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._cache[key]
            return None
        self._cache.move_to_end(key)
        self.hits += 1
        return entry[1]

    def _ttl_of(self, result: FcrdnsResult) -> float:
        if result.ok:
            return self._ttl
        if result.inconclusive:
            return min(self._negative_ttl, _INCONCLUSIVE_TTL)
        return self._negative_ttl

    def _put(self, key: _Key, result: FcrdnsResult, ttl: float | None = None) -> None:
        ttl = self._ttl_of(result) if ttl is None else ttl
        self._cache[key] = (self._clock() + ttl, result)
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    async def _run(self, key: _Key) -> FcrdnsResult:
        try:
            shared_key = json.dumps([key[0], key[1]], separators=(",", ":"))
            if self._shared is not None:
                found = decode_verdict(
                    await self._shared.get_verdict(shared_key) or "", time.time()
                )
                if found is not None:
                    self.shared_hits += 1
                    self._put(key, *found)
                    return found[0]
            result = await self._lookup(key)
            self._put(key, result)
            if self._shared is not None and not result.inconclusive:  # a flaky resolver is ours
                ttl = self._ttl_of(result)
                text = encode_verdict(result, time.time() + ttl)
                await self._shared.put_verdict(shared_key, text, ttl)
            return result
        finally:
            self._inflight.pop(key, None)

    async def _lookup(self, key: _Key) -> FcrdnsResult:
        self.lookups += 1
        try:
            async with asyncio.timeout(self._timeout), self._semaphore:
                return await self._confirm(key[0], key[1])
        except TimeoutError:
            return FcrdnsResult(False, None, None, "timeout", inconclusive=True)
        except Exception as e:  # a resolver failure is no evidence of spoofing
            return FcrdnsResult(False, None, None, f"lookup failed: {e!r}", inconclusive=True)

    async def _confirm(self, ip: str, domains: tuple[str, ...]) -> FcrdnsResult:
        names = [_clean(n) for n in await self._resolver.ptr(ip)][:_MAX_NAMES]
        if not names:
            return FcrdnsResult(False, None, None, "no PTR")
        candidates = [(n, d) for n in names if (d := domain_match(n, domains)) is not None]
        if not candidates:
            reason = f"ptr {', '.join(names)} not under {', '.join(domains)}"
            return FcrdnsResult(False, names[0], None, reason)
        address = parse_address(ip)
        for name, domain in candidates:
            forward = {parse_address(a) for a in await self._resolver.addresses(name)}
            if address in forward:
                return FcrdnsResult(True, name, domain, f"forward-confirmed {name}")
        name, domain = candidates[0]
        return FcrdnsResult(False, name, domain, f"forward lookup of {name} does not return {ip}")


def _key(ip: str, domains: tuple[str, ...]) -> _Key | None:
    address: Address | None = parse_address(ip)
    return None if address is None else (str(address), tuple(map(_clean, domains)))
