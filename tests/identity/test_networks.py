"""Network lookups: providers' and crawlers' ranges flattened into one bisect.

The interval algebra (proxy.identity.intervals) is tested here through the lookups
it builds, against a linear scan of random nested prefixes.
"""

from __future__ import annotations

import ipaddress
import random
from pathlib import Path

import pytest

from proxy.errors import Problem
from proxy.identity.intervals import parse_prefix
from proxy.identity.ipranges import IpRanges, Snapshot
from proxy.identity.networks import (
    NetworkSnapshot,
    build_networks,
    load_networks,
    parse_snapshot_text,
)
from proxy.model import RESIDENTIAL, Network
from tests.paths import RULES


def _snap(name: str, provider: str, *rows: str, aggregate: bool = False) -> NetworkSnapshot:
    spans = []
    for row in rows:
        prefix, *rest = row.split()
        service, region = (None if v == "-" else v for v in [*rest, "-", "-"][:2])
        spans.append((*parse_prefix(prefix), service, region))
    return NetworkSnapshot(
        name, provider, "https://x.example/", "test", "", aggregate, tuple(spans)
    )


def _ranges(name: str, *prefixes: str) -> IpRanges:
    networks = tuple(ipaddress.ip_network(p) for p in prefixes)
    return IpRanges({name: Snapshot(name, "https://x.example/", "test", networks)})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.0.0/8", (4, 10 << 24, (11 << 24) - 1)),
        ("192.0.2.7/32", (4, 0xC0000207, 0xC0000207)),
        ("192.0.2.7", (4, 0xC0000207, 0xC0000207)),
        ("2001:db8::/32", (6, 0x20010DB8 << 96, ((0x20010DB9) << 96) - 1)),
        ("0.0.0.0/0", (4, 0, 2**32 - 1)),
    ],
)
def test_parse_prefix(text: str, expected: tuple[int, int, int]) -> None:
    assert parse_prefix(text) == expected


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("10.0.0.1/8", "host bits set"),
        ("10.0.0.0/33", "prefix length"),
        ("10.0.0/8", "not a network prefix"),
        ("2001:db8::/129", "prefix length"),
        ("nonsense", "not a network prefix"),
        ("10.0.0.0/x", "not a network prefix"),
    ],
)
def test_parse_prefix_errors(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_prefix(text)


def test_most_specific_range_wins_and_crawler_ranges_sit_beside_providers() -> None:
    azure = _snap("azure", "azure", "20.0.0.0/8 AzureCloud", "20.171.0.0/16 AzureCloud westus")
    hosting = _snap("hosting", "hosting", "20.171.206.0/24", "9.0.0.0/8", aggregate=True)
    networks = build_networks(
        [azure, hosting], _ranges("openai-gptbot", "20.171.206.0/24"), {"openai-gptbot": "OpenAI"}
    )
    assert networks.lookup("20.1.2.3") == Network("azure", "AzureCloud")
    assert networks.lookup("20.171.1.1") == Network("azure", "AzureCloud", "westus")
    # The aggregate list is more specific here, but a named provider's range wins.
    assert networks.lookup("20.171.206.9") == Network(
        "azure", "AzureCloud", "westus", "openai-gptbot", "OpenAI"
    )
    assert networks.lookup("20.171.207.0") == Network("azure", "AzureCloud", "westus")
    assert networks.lookup("9.9.9.9") == Network("hosting")
    assert networks.lookup("21.0.0.0").provider == RESIDENTIAL
    assert networks.lookup("19.255.255.255").provider == RESIDENTIAL


def test_a_crawler_range_outside_every_provider_is_still_found() -> None:
    networks = build_networks([], _ranges("bot", "198.51.100.0/24"), {"bot": "Op"})
    assert networks.lookup("198.51.100.1") == Network(RESIDENTIAL, None, None, "bot", "Op")
    assert networks.lookup("198.51.101.1") == Network(RESIDENTIAL)


def test_ipv6_and_ipv4_mapped_and_not_an_address() -> None:
    snap = _snap("h", "hetzner", "2a01:4f8::/29 - fsn1", "5.9.0.0/16")
    networks = build_networks([snap])
    assert networks.lookup("2a01:4f8:1:2::3") == Network("hetzner", None, "fsn1")
    assert networks.lookup("::ffff:5.9.1.1") == Network("hetzner")
    assert networks.lookup("2a02::1").provider == RESIDENTIAL
    assert networks.lookup("").provider == RESIDENTIAL
    assert networks.lookup("not-an-ip").provider == RESIDENTIAL
    assert networks.lookup_uncached("5.9.1.1") == networks.lookup("5.9.1.1")


def test_identical_prefixes_the_later_snapshot_wins() -> None:
    cidrs = _snap("oracle-cidrs", "oracle", "129.80.0.0/16")
    regions = _snap("oracle", "oracle", "129.80.0.0/16 OCI us-ashburn-1")
    assert build_networks([cidrs, regions]).lookup("129.80.1.1").region == "us-ashburn-1"


def test_lookup_agrees_with_a_linear_scan() -> None:
    """Random nested prefixes: the flattened table answers what "longest prefix" does."""
    rng = random.Random(16)
    prefixes = []
    for _ in range(400):
        length = rng.randint(8, 28)
        base = rng.getrandbits(32) & ~((1 << (32 - length)) - 1)
        prefixes.append(
            ipaddress.IPv4Network((base & 0x3FFFFFFF | 0x40000000, length), strict=False)
        )
    rows = [f"{p} s{i}" for i, p in enumerate(prefixes)]
    networks = build_networks([_snap("n", "p", *rows)])
    for _ in range(3000):
        address = ipaddress.IPv4Address(rng.getrandbits(30) | 0x40000000)
        holding = [(p.prefixlen, i) for i, p in enumerate(prefixes) if address in p]
        expected = f"s{max(holding)[1]}" if holding else None
        assert networks.lookup_uncached(str(address)).service == expected, address


def test_snapshot_file_problems_are_located() -> None:
    text = "# name: other\n# provider: aws\n# source: http://x\n1.2.3.4/8\n5.6.7.0/24 EC2\n"
    problems: list[Problem] = []
    assert parse_snapshot_text(text, "aws", "aws.txt", problems) is None
    found = sorted((p.line or 0, p.field or "", p.message) for p in problems)
    assert [(line, field) for line, field, _ in found] == [
        (1, "name"),
        (1, "snapshot"),
        (1, "source"),
        (4, "prefix"),
    ]
    assert "host bits set" in found[3][2]


def test_shipped_snapshots_load_and_answer() -> None:
    problems: list[Problem] = []
    networks = load_networks(RULES / "networks", problems)
    assert problems == []
    assert sum(s.count for s in networks.snapshots.values()) >= 100_000
    assert {"aws", "gcp", "azure", "hetzner", "ovh", "cloudflare"} <= networks.providers
    assert networks.lookup("3.5.140.9") == Network("aws", "S3", "ap-northeast-2")
    for documentation in ("192.0.2.1", "198.51.100.1", "203.0.113.1", "2001:db8::1", "10.1.1.1"):
        assert networks.lookup(documentation).provider == RESIDENTIAL
    for snap in networks.snapshots.values():
        assert snap.source.startswith("https://")
        assert snap.note


def test_a_reload_with_unchanged_files_reuses_the_compiled_table(tmp_path: Path) -> None:
    header = "# name: a\n# source: https://a.example/\n# snapshot: 2026-01-01\n"
    (tmp_path / "a.txt").write_text(header + "# provider: a\n1.0.0.0/8\n")
    first = load_networks(tmp_path, [])
    assert load_networks(tmp_path, []) is first
    (tmp_path / "a.txt").write_text(header + "# provider: bb\n1.0.0.0/8\n")
    assert load_networks(tmp_path, []).lookup("1.1.1.1").provider == "bb"


def test_crawler_ranges_and_two_provider_tiers_agree_with_a_linear_scan() -> None:
    rng = random.Random(160)

    def prefixes(count: int, shortest: int) -> list[ipaddress.IPv4Network]:
        found = []
        for _ in range(count):
            length = rng.randint(shortest, 28)
            base = (rng.getrandbits(24) << 8) & ~((1 << (32 - length)) - 1)
            found.append(ipaddress.IPv4Network((base, length)))
        return found

    named, broad, crawlers = prefixes(300, 6), prefixes(300, 6), prefixes(60, 12)
    networks = build_networks(
        [
            _snap("b", "broad", *map(str, broad), aggregate=True),
            _snap("n", "named", *(f"{p} n{i}" for i, p in enumerate(named))),
        ],
        IpRanges(
            {f"c{i}": Snapshot(f"c{i}", "https://x/", "t", (p,)) for i, p in enumerate(crawlers)}
        ),
    )

    def best(found: list[tuple[int, int]]) -> int | None:
        return max(found)[1] if found else None

    for _ in range(3000):
        address = ipaddress.IPv4Address(rng.getrandbits(32))
        got = networks.lookup_uncached(str(address))
        n = best([(p.prefixlen, i) for i, p in enumerate(named) if address in p])
        c = best([(p.prefixlen, i) for i, p in enumerate(crawlers) if address in p])
        in_broad = any(address in p for p in broad)
        provider = "named" if n is not None else "broad" if in_broad else RESIDENTIAL
        assert got.provider == provider, address
        assert got.service == (f"n{n}" if n is not None else None), address
        if c is not None:  # identical crawler prefixes: either name will do
            assert got.crawler_range is not None
            holder = crawlers[int(got.crawler_range[1:])]
            assert address in holder
            assert holder.prefixlen == crawlers[c].prefixlen
        else:
            assert got.crawler_range is None, address
