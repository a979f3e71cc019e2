"""Forward-confirmed reverse DNS with an injected resolver: no network at all."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from proxy.identity.fcrdns import FcrdnsResult, FcrdnsVerifier, domain_match, registered_domain

GOOGLE = ("googlebot.com", "google.com")
GENUINE = "66.249.66.1"
GENUINE_HOST = "crawl-66-249-66-1.googlebot.com"


@dataclass
class FakeResolver:
    """PTR and forward tables; `delay` makes every lookup slow; counts every call."""

    ptrs: dict[str, list[str]] = field(default_factory=dict)
    forward: dict[str, list[str]] = field(default_factory=dict)
    delay: float = 0.0
    fail: Exception | None = None
    calls: list[str] = field(default_factory=list)
    running: int = 0
    most_running: int = 0

    async def _lookup(self, table: dict[str, list[str]], key: str) -> list[str]:
        self.calls.append(key)
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            await asyncio.sleep(self.delay)
            if self.fail is not None:
                raise self.fail
            return table.get(key, [])
        finally:
            self.running -= 1

    async def ptr(self, ip: str) -> list[str]:
        return await self._lookup(self.ptrs, ip)

    async def addresses(self, name: str) -> list[str]:
        return await self._lookup(self.forward, name)


def dns_table() -> FakeResolver:
    return FakeResolver(
        ptrs={
            GENUINE: [GENUINE_HOST + "."],
            "2001:4860:4801:10::1": ["crawl-2001-4860-4801-10--1.googlebot.com"],
            "203.0.113.5": ["crawl-66-249-66-1.googlebot.com"],  # claims googlebot, is not
            "203.0.113.6": ["crawl-66-249-66-1.evil-googlebot.com"],
            "203.0.113.7": ["googlebot.com.evil.net", "host.example.net"],
            "203.0.113.8": ["ec2-1.compute.amazonaws.com", GENUINE_HOST],
            "52.1.2.3": ["crawler-52-1-2-3.crawl.amazonbot.amazon."],
            "52.1.2.4": ["evil.amazon"],
            "35.1.2.3": ["abc.gae.googleusercontent.com"],
            "35.1.2.4": ["abc.GAE.GoogleUserContent.com."],
        },
        forward={
            GENUINE_HOST: ["66.249.66.1", "2001:4860:4801:10::1"],
            "crawl-2001-4860-4801-10--1.googlebot.com": ["2001:4860:4801:10:0::1"],
            "crawl-66-249-66-1.evil-googlebot.com": ["203.0.113.6"],
            "googlebot.com.evil.net": ["203.0.113.7"],
            "crawler-52-1-2-3.crawl.amazonbot.amazon": ["::ffff:52.1.2.3"],
            "evil.amazon": ["52.1.2.4"],
            "abc.gae.googleusercontent.com": ["35.1.2.3", "35.1.2.4"],
        },
    )


@pytest.mark.parametrize(
    ("ip", "domains", "expected"),
    [
        (GENUINE, GOOGLE, FcrdnsResult(True, GENUINE_HOST, "googlebot.com", "")),
        ("::ffff:66.249.66.1", GOOGLE, FcrdnsResult(True, GENUINE_HOST, "googlebot.com", "")),
        (
            "2001:4860:4801:10::1",
            ("GoogleBot.com.",),
            FcrdnsResult(True, "crawl-2001-4860-4801-10--1.googlebot.com", "googlebot.com", ""),
        ),
        (
            "203.0.113.5",
            GOOGLE,
            FcrdnsResult(
                False,
                GENUINE_HOST,
                "googlebot.com",
                f"forward lookup of {GENUINE_HOST} does not return 203.0.113.5",
            ),
        ),
        (
            "203.0.113.6",
            GOOGLE,
            FcrdnsResult(
                False,
                "crawl-66-249-66-1.evil-googlebot.com",
                None,
                "ptr crawl-66-249-66-1.evil-googlebot.com not under googlebot.com, google.com",
            ),
        ),
        (
            "203.0.113.7",
            GOOGLE,
            FcrdnsResult(
                False,
                "googlebot.com.evil.net",
                None,
                "ptr googlebot.com.evil.net, host.example.net not under googlebot.com, google.com",
            ),
        ),
        ("192.0.2.1", GOOGLE, FcrdnsResult(False, None, None, "no PTR")),
        ("bogus", GOOGLE, FcrdnsResult(False, None, None, "invalid address 'bogus'")),
        # a documented zone below a registered domain (suffix rule)
        (
            "52.1.2.3",
            ("crawl.amazonbot.amazon",),
            FcrdnsResult(
                True, "crawler-52-1-2-3.crawl.amazonbot.amazon", "crawl.amazonbot.amazon", ""
            ),
        ),
        (
            "52.1.2.3",
            ("amazonbot.amazon",),
            FcrdnsResult(True, "crawler-52-1-2-3.crawl.amazonbot.amazon", "amazonbot.amazon", ""),
        ),
        (
            "35.1.2.3",
            ("gae.googleusercontent.com",),
            FcrdnsResult(True, "abc.gae.googleusercontent.com", "gae.googleusercontent.com", ""),
        ),
        (  # PTR names are compared without case and trailing dot
            "35.1.2.4",
            ("gae.googleusercontent.com",),
            FcrdnsResult(True, "abc.gae.googleusercontent.com", "gae.googleusercontent.com", ""),
        ),
        # a bare public suffix never matches
        (
            "52.1.2.4",
            ("amazon",),
            FcrdnsResult(False, "evil.amazon", None, "ptr evil.amazon not under amazon"),
        ),
    ],
)
async def test_check(ip: str, domains: tuple[str, ...], expected: FcrdnsResult) -> None:
    result = await FcrdnsVerifier(dns_table()).check(ip, domains)
    if result.ok:
        assert result.reason == f"forward-confirmed {result.hostname}"
        result = FcrdnsResult(True, result.hostname, result.domain, "")
    assert result == expected


async def test_a_matching_name_among_several_ptrs_is_tried() -> None:
    resolver = dns_table()
    resolver.forward[GENUINE_HOST].append("203.0.113.8")
    result = await FcrdnsVerifier(resolver).check("203.0.113.8", GOOGLE)
    assert (result.ok, result.hostname) == (True, GENUINE_HOST)
    assert "ec2-1.compute.amazonaws.com" not in resolver.calls  # no forward lookup of it


@pytest.mark.parametrize(
    ("host", "domains", "expected"),
    [
        ("crawl-1.googlebot.com", GOOGLE, "googlebot.com"),
        ("rate-limited-proxy-1.google.com.", GOOGLE, "google.com"),
        ("GOOGLEBOT.COM", GOOGLE, "googlebot.com"),
        ("crawl-1.evil-googlebot.com", GOOGLE, None),
        ("googlebot.com.evil.net", GOOGLE, None),
        ("x.search.msn.com", ("search.msn.com",), "search.msn.com"),
        ("search.msn.com", ("search.msn.com",), "search.msn.com"),
        ("x.msn.com", ("search.msn.com",), None),
        ("xsearch.msn.com", ("search.msn.com",), None),
        ("a.b.co.uk", ("co.uk",), None),
        ("66.249.66.1", ("66.249.66.1",), None),
        ("", GOOGLE, None),
    ],
)
def test_domain_match(host: str, domains: tuple[str, ...], expected: str | None) -> None:
    assert domain_match(host, domains) == expected


def test_registered_domain_is_offline_and_icann_only() -> None:
    assert registered_domain("forums.news.cnn.co.uk") == "cnn.co.uk"
    assert registered_domain("a.b.github.io") == "github.io"  # private PSL part not used
    assert registered_domain("co.uk") is None
    assert registered_domain("192.0.2.1") is None


async def test_results_are_cached() -> None:
    resolver = dns_table()
    verifier = FcrdnsVerifier(resolver)
    first = await verifier.check(GENUINE, GOOGLE)
    assert verifier.cached(GENUINE, GOOGLE) == first
    assert await verifier.check("::ffff:66.249.66.1", GOOGLE) == first
    assert (verifier.lookups, verifier.hits, len(resolver.calls)) == (1, 2, 2)
    assert verifier.cached(GENUINE, ("google.com",)) is None  # other domains, other key
    assert verifier.cached("bogus", GOOGLE) is None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("ip", "fresh_until"),
    [
        (GENUINE, 3600.0),  # a success lasts ttl
        ("203.0.113.5", 300.0),  # a failure lasts negative_ttl
        ("192.0.2.1", 300.0),
    ],
)
async def test_ttl(ip: str, fresh_until: float) -> None:
    clock = Clock()
    resolver = dns_table()
    verifier = FcrdnsVerifier(resolver, ttl=3600, negative_ttl=300, clock=clock)
    await verifier.check(ip, GOOGLE)
    clock.now += fresh_until - 1
    await verifier.check(ip, GOOGLE)
    assert verifier.lookups == 1
    clock.now += 1
    assert verifier.cached(ip, GOOGLE) is None
    await verifier.check(ip, GOOGLE)
    assert verifier.lookups == 2


async def test_the_cache_is_bounded_and_keeps_recent_entries() -> None:
    verifier = FcrdnsVerifier(dns_table(), cache_size=2)
    for ip in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        await verifier.check(ip, GOOGLE)
    assert verifier.cached("192.0.2.1", GOOGLE) is None
    assert verifier.cached("192.0.2.2", GOOGLE) is not None  # now the most recent
    await verifier.check("192.0.2.4", GOOGLE)
    assert verifier.cached("192.0.2.3", GOOGLE) is None
    assert verifier.cached("192.0.2.2", GOOGLE) is not None


async def test_a_slow_resolver_hits_the_timeout_and_is_cached_briefly() -> None:
    clock = Clock()
    resolver = dns_table()
    resolver.delay = 5.0
    verifier = FcrdnsVerifier(resolver, timeout=0.05, negative_ttl=300, clock=clock)
    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await verifier.check(GENUINE, GOOGLE)
    assert loop.time() - started < 1.0
    assert result == FcrdnsResult(False, None, None, "timeout", inconclusive=True)
    assert verifier.cached(GENUINE, GOOGLE) == result
    clock.now += 30  # an inconclusive result is kept for at most 30 s, not negative_ttl
    assert verifier.cached(GENUINE, GOOGLE) is None
    assert resolver.running == 0  # the slow lookup was cancelled


async def test_negative_ttl_shorter_than_the_inconclusive_cap_is_used() -> None:
    clock = Clock()
    resolver = dns_table()
    resolver.delay = 5.0
    verifier = FcrdnsVerifier(resolver, timeout=0.01, negative_ttl=5, clock=clock)
    await verifier.check(GENUINE, GOOGLE)
    clock.now += 5
    assert verifier.cached(GENUINE, GOOGLE) is None


async def test_a_resolver_failure_is_inconclusive_and_never_raises() -> None:
    resolver = dns_table()
    resolver.fail = OSError("SERVFAIL")
    result = await FcrdnsVerifier(resolver).check(GENUINE, GOOGLE)
    assert (result.ok, result.inconclusive) == (False, True)
    assert result.reason == "lookup failed: OSError('SERVFAIL')"


async def test_concurrent_checks_of_one_ip_share_one_lookup() -> None:
    resolver = dns_table()
    resolver.delay = 0.01
    verifier = FcrdnsVerifier(resolver)
    results = await asyncio.gather(*(verifier.check(GENUINE, GOOGLE) for _ in range(20)))
    assert all(r.ok for r in results)
    assert verifier.lookups == 1
    assert resolver.calls == [GENUINE, GENUINE_HOST]


async def test_a_cancelled_caller_does_not_cancel_the_shared_lookup() -> None:
    resolver = dns_table()
    resolver.delay = 0.01
    verifier = FcrdnsVerifier(resolver)
    first = asyncio.create_task(verifier.check(GENUINE, GOOGLE))
    second = asyncio.create_task(verifier.check(GENUINE, GOOGLE))
    await asyncio.sleep(0)
    first.cancel()
    assert (await second).ok
    with pytest.raises(asyncio.CancelledError):
        await first
    assert verifier.lookups == 1


async def test_concurrency_is_bounded() -> None:
    resolver = dns_table()
    resolver.delay = 0.005
    verifier = FcrdnsVerifier(resolver, concurrency=3)
    ips = [f"192.0.2.{i}" for i in range(12)]
    results = await asyncio.gather(*(verifier.check(ip, GOOGLE) for ip in ips))
    assert all(r.reason == "no PTR" for r in results)
    assert resolver.most_running == 3
    assert verifier.lookups == 12
