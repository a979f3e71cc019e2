"""The dnspython resolver adapter against a tiny DNS server on loopback (no internet)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.reversename
import dns.rrset
import pytest

from proxy.identity.fcrdns import FcrdnsVerifier
from proxy.net.dns import DnsResolver, loopback_resolver

GENUINE_HOST = "crawl-66-249-66-1.googlebot.com."
# (name, type) -> records; a name absent from every entry is NXDOMAIN
ZONE: dict[tuple[str, str], list[str]] = {
    ("1.66.249.66.in-addr.arpa.", "PTR"): [GENUINE_HOST],
    ("5.113.0.203.in-addr.arpa.", "PTR"): [GENUINE_HOST],  # a spoofed PTR
    (GENUINE_HOST, "A"): ["66.249.66.1"],
    (GENUINE_HOST, "AAAA"): ["2001:4860:4801:10::1"],
    ("v4only.example.", "A"): ["192.0.2.1", "192.0.2.2"],
    (dns.reversename.from_address("2001:4860:4801:10::1").to_text(), "PTR"): [GENUINE_HOST],
}
SILENT = {"slow.example.", "4.113.0.203.in-addr.arpa."}  # never answered: the client times out
FAILING = {"servfail.example."}


class DnsServer(asyncio.DatagramProtocol):
    """Answers queries from ZONE, built with dnspython's message API."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.queries: list[tuple[str, str]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.DatagramTransport)
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        question = query.question[0]
        name, rdtype = question.name.to_text(), dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, rdtype))
        if name in SILENT:
            return
        response = dns.message.make_response(query)
        records = ZONE.get((name, rdtype))
        if name in FAILING:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif records:
            response.answer.append(dns.rrset.from_text_list(name, 300, "IN", rdtype, records))
        elif not any(known == name for known, _ in ZONE):
            response.set_rcode(dns.rcode.NXDOMAIN)
        assert self.transport is not None
        self.transport.sendto(response.to_wire(), addr)


@pytest.fixture
async def server() -> AsyncIterator[tuple[DnsServer, int]]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        DnsServer, local_addr=("127.0.0.1", 0)
    )
    port = transport.get_extra_info("sockname")[1]
    yield protocol, port
    transport.close()


@pytest.fixture
def resolver(server: tuple[DnsServer, int]) -> DnsResolver:
    return DnsResolver(lifetime=0.1, nameservers=["127.0.0.1"], port=server[1])


async def test_ptr(resolver: DnsResolver) -> None:
    assert await resolver.ptr("66.249.66.1") == ["crawl-66-249-66-1.googlebot.com"]
    assert await resolver.ptr("2001:4860:4801:10::1") == ["crawl-66-249-66-1.googlebot.com"]


async def test_missing_records_are_empty_lists(resolver: DnsResolver) -> None:
    assert await resolver.ptr("192.0.2.9") == []  # NXDOMAIN
    assert await resolver.addresses("nowhere.example") == []  # NXDOMAIN
    # v4only.example has A records and no AAAA:
    assert sorted(await resolver.addresses("v4only.example")) == ["192.0.2.1", "192.0.2.2"]


async def test_addresses_are_a_and_aaaa(resolver: DnsResolver) -> None:
    addresses = await resolver.addresses("crawl-66-249-66-1.googlebot.com")
    assert addresses == ["66.249.66.1", "2001:4860:4801:10::1"]


async def test_a_silent_server_raises_within_the_lifetime(resolver: DnsResolver) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(dns.exception.Timeout):
        await resolver.addresses("slow.example")
    assert loop.time() - started < 1.0


async def test_servfail_raises(resolver: DnsResolver) -> None:
    with pytest.raises(dns.resolver.NoNameservers):
        await resolver.addresses("servfail.example")


async def test_search_domains_are_not_appended(
    resolver: DnsResolver, server: tuple[DnsServer, int]
) -> None:
    await resolver.addresses("nowhere.example")
    assert {name for name, _ in server[0].queries} == {"nowhere.example."}


@pytest.mark.parametrize(
    ("ip", "ok", "reason"),
    [
        ("66.249.66.1", True, "forward-confirmed crawl-66-249-66-1.googlebot.com"),
        ("2001:4860:4801:10::1", True, "forward-confirmed crawl-66-249-66-1.googlebot.com"),
        (
            "203.0.113.5",
            False,
            "forward lookup of crawl-66-249-66-1.googlebot.com does not return 203.0.113.5",
        ),
        ("192.0.2.9", False, "no PTR"),
        ("203.0.113.4", False, "timeout"),
    ],
)
async def test_the_verifier_over_real_dns(
    server: tuple[DnsServer, int], ip: str, ok: bool, reason: str
) -> None:
    resolver = DnsResolver(lifetime=1.0, nameservers=["127.0.0.1"], port=server[1])
    verifier = FcrdnsVerifier(resolver, timeout=0.1)
    result = await verifier.check(ip, ("googlebot.com", "google.com"))
    assert (result.ok, result.reason) == (ok, reason)


def test_the_system_configuration_is_read_by_default() -> None:
    DnsResolver()  # /etc/resolv.conf; no query is sent


async def test_the_loopback_stub_answers_without_a_server() -> None:
    stub = loopback_resolver()
    assert await stub.ptr("127.0.0.1") == ["localhost"]
    assert await stub.addresses("LOCALHOST.") == ["127.0.0.1", "::1"]
    assert await stub.ptr("66.249.66.1") == []  # unknown: no record, nothing sent
    result = await FcrdnsVerifier(stub).check("127.0.0.1", ("googlebot.com",))
    assert (result.ok, result.inconclusive) == (False, False)
    assert stub.asked == ["PTR 127.0.0.1", "A/AAAA LOCALHOST.", "PTR 66.249.66.1", "PTR 127.0.0.1"]
