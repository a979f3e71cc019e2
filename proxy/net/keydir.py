"""Fetch a Web Bot Auth agent's key directory (`/.well-known/http-message-signatures-directory`).

The agent URL comes from a request header, so any client can ask the proxy to fetch any
URL. Hence: https only; no redirects; no connection to a private, loopback, link-local,
multicast or reserved address; at most `max_bytes` read within `timeout` seconds; and a
cache, positive and negative, with in-flight deduplication, so a flood of signed requests
costs one fetch per agent origin and TTL.

DNS rebinding: the host is resolved once, every address is checked, and the connection
goes to exactly those addresses through a resolver pinned to them, so a second lookup
cannot swap in a private address. TLS still checks the certificate against the host name.

Not done: the directory's own signature (the draft says it SHOULD be signed) is not
checked; https already authenticates the origin. Only `type=directory` agents are
fetched; a `jwks_uri` or `cimd` agent is refused.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from proxy.errors import OptoutError
from proxy.identity.webbotauth import MAX_KEYS, keys_from_jwks

WELL_KNOWN = "/.well-known/http-message-signatures-directory"
MEDIA_TYPE = "application/http-message-signatures-directory+json"
# The draft's media type, and plain JSON: some deployed directories still serve that.
MEDIA_TYPES = frozenset({MEDIA_TYPE, "application/json"})
ACCEPT = f"{MEDIA_TYPE}, application/json;q=0.9"
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

Resolve = Callable[[str, int], Awaitable[list[str]]]
"""Host name and port to IP address strings; the default asks the event loop."""

Keys = dict[str, Ed25519PublicKey]


class KeyDirectoryError(OptoutError):
    """The agent's keys could not be had; the message says why, for the access log."""


class _Origin(NamedTuple):
    url: str  # scheme://host[:port], lower case
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class _Entry:
    keys: Keys | None
    error: str | None
    until: float


async def _getaddrinfo(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def is_public(address: str) -> bool:
    """True for a globally routable unicast address, also behind IPv4-mapped/6to4/NAT64."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour
        if inner is None and ip in NAT64:
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None and not is_public(str(inner)):
            return False
    return ip.is_global and not ip.is_multicast


class _PinnedResolver(AbstractResolver):
    """Answers with the addresses we already checked, so we connect where we looked."""

    def __init__(self, host: str, addresses: list[str]) -> None:
        self._host, self._addresses = host, addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host != self._host:
            raise OSError(f"pinned resolver asked for {host}")
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in self._addresses
        ]

    async def close(self) -> None:
        pass


def _ttl(cache_control: str | None, default: float, bounds: tuple[float, float]) -> float:
    """The positive TTL: the directory's max-age if it gives one, within our bounds."""
    match = re.search(r"(?:^|,)\s*max-age\s*=\s*\"?(\d{1,10})", cache_control or "", re.I)
    ttl = float(match[1]) if match else default
    return min(max(ttl, bounds[0]), bounds[1])


class KeyDirectory:
    """Ed25519 keys of Web Bot Auth agents by origin, fetched carefully and cached.

    `allow_insecure_for_tests` permits http and private addresses so tests can use a
    loopback server; no configuration option reaches it.
    """

    def __init__(
        self,
        *,
        timeout: float = 2.0,
        max_bytes: int = 64 * 1024,
        max_keys: int = MAX_KEYS,
        ttl: float = 3600.0,
        ttl_bounds: tuple[float, float] = (60.0, 86400.0),
        negative_ttl: float = 300.0,
        max_entries: int = 1024,
        max_concurrent: int = 8,
        resolve: Resolve = _getaddrinfo,
        clock: Callable[[], float] = time.monotonic,
        allow_insecure_for_tests: bool = False,
    ) -> None:
        self._timeout, self._max_bytes, self._max_keys = timeout, max_bytes, max_keys
        self._ttl, self._ttl_bounds, self._negative_ttl = ttl, ttl_bounds, negative_ttl
        self._max_entries, self._resolve, self._clock = max_entries, resolve, clock
        self._insecure = allow_insecure_for_tests
        self._cache: dict[str, _Entry] = {}
        self._inflight: dict[str, asyncio.Task[_Entry]] = {}
        self._fetching = asyncio.Semaphore(max_concurrent)

    async def keys(self, agent_url: str) -> Keys:
        """The agent's keys by JWK thumbprint; KeyDirectoryError says why there are none."""
        origin = self._origin(agent_url)
        entry = self._cache.get(origin.url)
        if entry is None or entry.until <= self._clock():
            task = self._inflight.get(origin.url)
            if task is None:
                task = asyncio.create_task(self._refresh(origin))
                self._inflight[origin.url] = task
                task.add_done_callback(partial(self._done, origin.url))
            entry = await asyncio.shield(task)  # one caller giving up must not cancel it
        if entry.keys is None:
            raise KeyDirectoryError(entry.error)
        return dict(entry.keys)

    def _done(self, url: str, task: asyncio.Task[_Entry]) -> None:
        if self._inflight.get(url) is task:
            del self._inflight[url]

    async def close(self) -> None:
        """Cancel fetches in flight (at shutdown)."""
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _origin(self, agent_url: str) -> _Origin:
        try:
            parts = urlsplit(agent_url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise KeyDirectoryError(f"{agent_url!r} is not a URL") from None
        if parts.scheme not in ({"https", "http"} if self._insecure else {"https"}):
            raise KeyDirectoryError(f"{agent_url!r}: only https directories are fetched")
        if not parts.hostname or "@" in parts.netloc:
            raise KeyDirectoryError(f"{agent_url!r} has no host, or has user info")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise KeyDirectoryError(f"{agent_url!r} is not an origin")
        return _Origin(f"{parts.scheme}://{parts.netloc.lower()}", parts.hostname, port)

    async def _refresh(self, origin: _Origin) -> _Entry:
        try:
            keys, ttl = await self._fetch(origin)
            entry = _Entry(keys, None, self._clock() + ttl)
        except KeyDirectoryError as e:
            entry = _Entry(None, str(e), self._clock() + self._negative_ttl)
        self._cache.pop(origin.url, None)
        while len(self._cache) >= self._max_entries:  # drop the oldest
            del self._cache[next(iter(self._cache))]
        self._cache[origin.url] = entry
        return entry

    async def _fetch(self, origin: _Origin) -> tuple[Keys, float]:
        try:
            async with asyncio.timeout(self._timeout), self._fetching:
                addresses = await self._addresses(origin)
                body, cache_control = await self._get(origin, addresses)
        except TimeoutError:
            raise KeyDirectoryError(f"{origin.url}: timed out after {self._timeout:g} s") from None
        except (aiohttp.ClientError, OSError, ValueError) as e:  # ValueError: IDNA, bad URL
            raise KeyDirectoryError(f"{origin.url}: {type(e).__name__}: {e}") from None
        try:
            keys = keys_from_jwks(json.loads(body), self._max_keys)
        except (ValueError, RecursionError) as e:
            raise KeyDirectoryError(f"{origin.url}: malformed directory: {e}") from None
        return keys, _ttl(cache_control, self._ttl, self._ttl_bounds)

    async def _addresses(self, origin: _Origin) -> list[str]:
        """Resolve and check every address before any connection is made."""
        addresses = await self._resolve(origin.host, origin.port)
        if not addresses:
            raise KeyDirectoryError(f"{origin.url}: {origin.host} has no address")
        private = [a for a in addresses if not is_public(a)]
        if private and not self._insecure:
            raise KeyDirectoryError(f"{origin.url}: refusing non-public address {private[0]}")
        return addresses

    async def _get(self, origin: _Origin, addresses: list[str]) -> tuple[bytes, str | None]:
        connector = aiohttp.TCPConnector(
            resolver=_PinnedResolver(origin.host, addresses), use_dns_cache=False, limit=1
        )
        async with (
            aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,  # no proxy from the environment
                auto_decompress=False,  # a compressed body fails as JSON: no zip bombs
            ) as session,
            session.get(
                origin.url + WELL_KNOWN,
                allow_redirects=False,
                headers={"Accept": ACCEPT, "Accept-Encoding": "identity"},
            ) as response,
        ):
            self._check(origin, response)
            return await self._read(origin, response), response.headers.get("Cache-Control")

    def _check(self, origin: _Origin, response: aiohttp.ClientResponse) -> None:
        if 300 <= response.status < 400:
            raise KeyDirectoryError(f"{origin.url}: redirect refused (status {response.status})")
        if response.status != 200:
            raise KeyDirectoryError(f"{origin.url}: status {response.status}")
        if response.content_type not in MEDIA_TYPES:
            raise KeyDirectoryError(f"{origin.url}: content type {response.content_type!r}")
        if (response.content_length or 0) > self._max_bytes:
            raise KeyDirectoryError(f"{origin.url}: larger than {self._max_bytes} bytes")

    async def _read(self, origin: _Origin, response: aiohttp.ClientResponse) -> bytes:
        body = bytearray()
        async for chunk in response.content.iter_chunked(16 * 1024):
            body += chunk
            if len(body) > self._max_bytes:
                raise KeyDirectoryError(f"{origin.url}: larger than {self._max_bytes} bytes")
        return bytes(body)
