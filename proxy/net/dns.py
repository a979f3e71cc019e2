"""The production `Resolver` of proxy/identity/fcrdns.py: dnspython's asyncio resolver.

dnspython talks to the system's (or the given) name servers itself, asynchronously,
so a lookup never blocks the event loop the way `socket.getaddrinfo` in a thread pool
can when the pool is full. Each lookup has its own `lifetime` limit as well, because
the verifier's overall timeout should be the last line of defence, not the only one.

"No such record" (NXDOMAIN, an empty answer) is an empty list, as the `Resolver`
protocol says; any other failure (timeout, SERVFAIL, no reachable server) raises, and
the verifier reports it as inconclusive rather than as spoofing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import dns.asyncresolver
import dns.name
import dns.rdata
import dns.rdtypes.ANY.PTR
import dns.rdtypes.IN.A
import dns.rdtypes.IN.AAAA
import dns.resolver
import dns.reversename

_NO_RECORD = (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer)


class DnsResolver:
    """PTR and A/AAAA lookups; `nameservers`/`port` default to /etc/resolv.conf."""

    def __init__(
        self,
        *,
        lifetime: float = 1.0,
        nameservers: Sequence[str] | None = None,
        port: int = 53,
    ) -> None:
        self._resolver = dns.asyncresolver.Resolver(configure=nameservers is None)
        if nameservers is not None:
            self._resolver.nameservers = list(nameservers)
            self._resolver.port = port
        self._resolver.lifetime = lifetime
        self._resolver.timeout = lifetime
        self._lifetime = lifetime

    async def ptr(self, ip: str) -> list[str]:
        """Host names of the PTR records of `ip`, without the trailing dot."""
        name = dns.reversename.from_address(ip)
        records = await self._query(name, "PTR")
        return [
            r.target.to_text(omit_final_dot=True)
            for r in records
            if isinstance(r, dns.rdtypes.ANY.PTR.PTR)
        ]

    async def addresses(self, name: str) -> list[str]:
        """Every A and AAAA address of `name`; raises if either lookup failed."""
        qname = dns.name.from_text(name)
        # Both run to the end (each within the lifetime): no lookup is left behind.
        results = await asyncio.gather(
            self._query(qname, "A"), self._query(qname, "AAAA"), return_exceptions=True
        )
        v4, v6 = (_raise_error(r) for r in results)
        return [
            str(r.address)
            for r in (*v4, *v6)
            if isinstance(r, dns.rdtypes.IN.A.A | dns.rdtypes.IN.AAAA.AAAA)
        ]

    async def _query(self, name: dns.name.Name, rdtype: str) -> list[dns.rdata.Rdata]:
        try:
            answer = await self._resolver.resolve(
                name, rdtype, lifetime=self._lifetime, search=False, raise_on_no_answer=False
            )
        except _NO_RECORD:
            return []
        return list(answer.rrset) if answer.rrset is not None else []


class StubResolver:
    """Fixed answers and no packets: a demo (or `classify`) that must never leave loopback.

    A name or address it does not know has no record, as NXDOMAIN would say.
    """

    def __init__(
        self, ptr: Mapping[str, Sequence[str]], addresses: Mapping[str, Sequence[str]]
    ) -> None:
        self._ptr = {ip: list(names) for ip, names in ptr.items()}
        self._addresses = {_key(n): list(ips) for n, ips in addresses.items()}
        self.asked: list[str] = []  # what was looked up, for tests

    async def ptr(self, ip: str) -> list[str]:
        self.asked.append(f"PTR {ip}")
        return list(self._ptr.get(ip, ()))

    async def addresses(self, name: str) -> list[str]:
        self.asked.append(f"A/AAAA {name}")
        return list(self._addresses.get(_key(name), ()))


def loopback_resolver() -> StubResolver:
    """Loopback calls itself `localhost`, so a crawler claimed from it is found spoofed."""
    return StubResolver(
        {"127.0.0.1": ["localhost"], "::1": ["localhost"]}, {"localhost": ["127.0.0.1", "::1"]}
    )


def _key(name: str) -> str:
    return name.strip().rstrip(".").lower()


def _raise_error(result: list[dns.rdata.Rdata] | BaseException) -> list[dns.rdata.Rdata]:
    if isinstance(result, BaseException):
        raise result
    return result
