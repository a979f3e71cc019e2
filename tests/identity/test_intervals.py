"""The first-level bucket index of the network lookup agrees with the plain search.

`Networks.lookup_uncached` answers most addresses from the index alone and the
others with a bisect inside one bucket; `lookup_plain` parses with ipaddress and
bisects over every interval. Both must give the same Network for any address:
random ones, the edges of every interval and bucket, IPv4-mapped IPv6, and the
ends of both address spaces. A linear scan of the prefixes checks them both.
"""

from __future__ import annotations

import ipaddress
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.identity.intervals import BUCKET_BITS, bucket_index, parse_prefix
from proxy.identity.ipranges import IpRanges, Snapshot
from proxy.identity.networks import Networks, NetworkSnapshot, build_networks, load_networks
from proxy.model import RESIDENTIAL
from tests.paths import RULES

EDGES = [
    "0.0.0.0",
    "255.255.255.255",
    "::",
    "::1",
    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "::ffff:0.0.0.0",
    "::ffff:255.255.255.255",
    "::fffe:ffff:ffff",  # just below the IPv4-mapped block: IPv6
    "::1:0:0:0",  # just above it
    "::0.0.0.1",  # IPv4-compatible: an IPv6 address, not mapped
]


def _snapshot(name: str, provider: str, prefixes: list[str], tier: bool = False) -> NetworkSnapshot:
    # Services name the prefix of the named list; the broad one has none.
    spans = tuple(
        (*parse_prefix(p), None if tier else f"s{i}", None) for i, p in enumerate(prefixes)
    )
    return NetworkSnapshot(name, provider, "https://x.example/", "t", "", tier, spans)


def _prefix(draw: st.DrawFn, version: int) -> str:
    bits = 32 if version == 4 else 128
    length = draw(st.integers(0 if version == 4 else 1, bits))
    # Most near the ends of the space and around bucket edges, where the index cuts.
    base = draw(
        st.one_of(
            st.integers(0, (1 << bits) - 1),
            st.integers(0, 1 << (bits - BUCKET_BITS + 2)),
            st.integers((1 << bits) - (1 << (bits - BUCKET_BITS + 2)), (1 << bits) - 1),
            st.integers(0, (1 << BUCKET_BITS) - 1).map(lambda b: b << (bits - BUCKET_BITS)),
        )
    )
    network = ipaddress.ip_network((base, length), strict=False)
    return str(network)


@st.composite
def _tables(draw: st.DrawFn) -> tuple[list[str], list[str], list[str]]:
    named = [_prefix(draw, draw(st.sampled_from((4, 6)))) for _ in range(draw(st.integers(0, 40)))]
    broad = [_prefix(draw, draw(st.sampled_from((4, 6)))) for _ in range(draw(st.integers(0, 10)))]
    crawlers = [_prefix(draw, 4) for _ in range(draw(st.integers(0, 6)))]
    return named, broad, crawlers


def _build(named: list[str], broad: list[str], crawlers: list[str]) -> Networks:
    ranges = IpRanges(
        {
            f"c{i}": Snapshot(f"c{i}", "https://x/", "t", (ipaddress.ip_network(p),))
            for i, p in enumerate(crawlers)
        }
    )
    snapshots = [_snapshot("b", "broad", broad, tier=True), _snapshot("n", "named", named)]
    return build_networks(snapshots, ranges, {f"c{i}": "Op" for i in range(len(crawlers))})


def _probes(networks: Networks, rng: random.Random) -> list[str]:
    """Every interval's edges and their neighbours, bucket edges, random and edge addresses."""
    found = list(EDGES)
    for table, bits in ((networks._v4, 32), (networks._v6, 128)):
        top = (1 << bits) - 1
        values = {v for s, e in zip(table.starts, table.ends, strict=True) for v in (s, e)}
        values |= {v + d for v in list(values) for d in (-1, 1)}
        for _ in range(30):
            edge = rng.getrandbits(BUCKET_BITS) << (bits - BUCKET_BITS)
            values |= {edge - 1, edge, rng.getrandbits(bits)}
        for value in sorted(v for v in values if 0 <= v <= top):
            address = ipaddress.ip_address(value) if bits == 128 else ipaddress.IPv4Address(value)
            found.append(str(address))
            if bits == 32:
                found.append(f"::ffff:{address}")  # what a dual-stack socket reports
    return found


def _longest(
    prefixes: list[ipaddress.IPv4Network | ipaddress.IPv6Network], address: str
) -> str | None:
    """The service of the most specific prefix holding `address` (the later if equal)."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    holding = [(n.prefixlen, i) for i, n in enumerate(prefixes) if ip in n]
    return f"s{max(holding)[1]}" if holding else None


@settings(max_examples=40, deadline=None)
@given(_tables(), st.integers(0, 2**32))
def test_the_indexed_lookup_agrees_with_the_plain_one(
    tables: tuple[list[str], list[str], list[str]], seed: int
) -> None:
    named, broad, crawlers = tables
    networks = _build(named, broad, crawlers)
    named_nets = [ipaddress.ip_network(p) for p in named]
    broad_nets = [ipaddress.ip_network(p) for p in broad]
    for address in _probes(networks, random.Random(seed)):
        fast = networks.lookup_uncached(address)
        assert fast == networks.lookup_plain(address), address
        service = _longest(named_nets, address)
        assert fast.service == service, address
        if service is None:
            in_broad = _longest(broad_nets, address) is not None
            assert fast.provider == ("broad" if in_broad else RESIDENTIAL), address


def test_whole_space_prefixes_and_empty_tables() -> None:
    everything = _build(["0.0.0.0/0", "::/1", "8000::/1"], [], [])
    empty = Networks()
    for address in EDGES:
        assert everything.lookup_uncached(address).provider == "named", address
        assert empty.lookup_uncached(address).provider == RESIDENTIAL, address
        assert everything.lookup_uncached(address) == everything.lookup_plain(address)


def test_bucket_index_marks_covered_empty_and_crowded_buckets() -> None:
    shift = 32 - BUCKET_BITS
    # Bucket 1 is wholly inside "a", bucket 3 is empty, bucket 5 holds two intervals,
    # bucket 7 is covered to its middle only, bucket 9 all but its last address
    # (by "e", which starts in bucket 8), bucket 11 is covered by "f" from bucket 10 on.
    starts = [1 << shift, 5 << shift, (5 << shift) + 9, 7 << shift, 8 << shift, 10 << shift]
    ends = [(2 << shift) - 1, (5 << shift) + 3, (5 << shift) + 20, (7 << shift) + 99]
    ends += [(10 << shift) - 2, (12 << shift) - 1]
    direct, first = bucket_index(starts, ends, ["a", "b", "c", "d", "e", "f"], 32, "-")
    assert (direct[1], direct[3], direct[5], direct[7]) == ("a", "-", None, None)
    assert (direct[8], direct[9], direct[10], direct[11], direct[12]) == ("e", None, "f", "f", "-")
    assert direct[2] == direct[0] == direct[(1 << BUCKET_BITS) - 1] == "-"
    assert starts[first[5] : first[6] + 1] == starts[1:3]
    assert len(direct) == len(first) == (1 << BUCKET_BITS) + 1


def test_the_shipped_table_agrees_with_the_plain_lookup() -> None:
    networks = load_networks(RULES / "networks", [])
    rng = random.Random(16)
    for table, cls in (
        (networks._v4, ipaddress.IPv4Address),
        (networks._v6, ipaddress.IPv6Address),
    ):
        top = (1 << (32 if cls is ipaddress.IPv4Address else 128)) - 1
        for i in rng.sample(range(len(table.starts)), 3000):
            for value in (table.starts[i] - 1, table.starts[i], table.ends[i], table.ends[i] + 1):
                if 0 <= value <= top:
                    address = str(cls(value))
                    assert networks.lookup_uncached(address) == networks.lookup_plain(address)
    for address in ["3.5.140.9", "not an address", " 3.5.140.9", "fe80::1%eth0", *EDGES]:
        assert networks.lookup_uncached(address) == networks.lookup_plain(address), address
