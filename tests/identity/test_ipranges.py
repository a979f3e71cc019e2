"""IP range snapshots: loading our files strictly, checking fetched ones, matching fast."""

from __future__ import annotations

import ipaddress
import json
import random
from pathlib import Path

import pytest
from paths import RULES

from proxy.errors import Problem
from proxy.identity.ipranges import IpRanges, Snapshot, load_ipranges, parse_address, parse_snapshot

IPRANGES = RULES / "ipranges"


@pytest.fixture(scope="module")
def shipped() -> IpRanges:
    problems: list[Problem] = []
    ranges = load_ipranges(IPRANGES, problems)
    assert problems == []
    return ranges


@pytest.mark.parametrize(
    ("name", "ip", "expected"),
    [
        # openai-gptbot: 52.230.152.0/24, 4.227.36.0/25, 20.125.66.80/28, ...
        ("openai-gptbot", "52.230.152.10", True),
        ("openai-gptbot", "20.171.206.255", True),
        ("openai-gptbot", "4.227.36.127", True),
        ("openai-gptbot", "4.227.36.128", False),
        ("openai-gptbot", "20.125.66.80", True),
        ("openai-gptbot", "20.125.66.95", True),
        ("openai-gptbot", "20.125.66.96", False),
        ("openai-gptbot", "20.125.66.79", False),
        ("openai-gptbot", "203.0.113.7", False),
        ("openai-gptbot", "66.249.64.1", False),  # a Googlebot address is not GPTBot
        ("openai-gptbot", "::ffff:52.230.152.10", True),  # IPv4-mapped IPv6
        ("openai-gptbot", "::ffff:203.0.113.7", False),
        ("openai-gptbot", "2001:4860:4801:10::1", False),  # no IPv6 in this list
        ("googlebot", "66.249.64.1", True),
        ("googlebot", "66.249.63.255", False),
        ("googlebot", "2001:4860:4801:10::1", True),
        ("googlebot", "2001:4860:4801:10:ffff:ffff:ffff:ffff", True),
        ("googlebot", "2001:4860:4802::1", False),
        ("googlebot", "8.8.8.8", False),
        ("googlebot", "52.230.152.10", False),
        # common-crawl: 18.97.14.80/29 and 18.97.14.88/30 are adjacent (merged)
        ("common-crawl", "18.97.14.80", True),
        ("common-crawl", "18.97.14.91", True),
        ("common-crawl", "18.97.14.92", False),
        ("common-crawl", "18.97.14.79", False),
        ("common-crawl", "98.85.178.216", True),
        ("common-crawl", "98.85.178.217", False),
        ("common-crawl", "2600:1f28:365:80bf::1", True),
        ("applebot", "17.241.208.170", True),
        # wire garbage and unknown names never raise
        ("openai-gptbot", "", False),
        ("openai-gptbot", "not an ip", False),
        ("openai-gptbot", "52.230.152.10:443", False),
        ("openai-gptbot", "52.230.152.256", False),
        ("no-such-list", "52.230.152.10", False),
    ],
)
def test_match(shipped: IpRanges, name: str, ip: str, expected: bool) -> None:
    assert shipped.match(name, ip) is expected


def test_bisect_agrees_with_a_linear_scan(shipped: IpRanges) -> None:
    rng = random.Random(5)
    for name, snapshot in shipped.snapshots.items():
        for network in snapshot.networks:
            first, last = int(network.network_address), int(network.broadcast_address)
            cls = ipaddress.IPv4Address if network.version == 4 else ipaddress.IPv6Address
            top = 2**network.max_prefixlen - 1
            for value in (first - 1, first, last, last + 1, rng.randint(first, last)):
                address = cls(min(max(value, 0), top))
                expected = any(
                    address in n for n in snapshot.networks if n.version == address.version
                )
                assert shipped.match(name, str(address)) is expected, (name, address)


def test_every_shipped_snapshot_loads(shipped: IpRanges) -> None:
    assert {p.stem for p in IPRANGES.glob("*.json")} == set(shipped.names)
    assert "openai-gptbot" in shipped.names
    assert shipped.names == tuple(sorted(shipped.names))
    source, note = shipped.info("openai-gptbot")
    assert source == "https://openai.com/gptbot.json"
    assert note


def test_info_of_an_unknown_name_is_a_key_error(shipped: IpRanges) -> None:
    with pytest.raises(KeyError):
        shipped.info("no-such-list")


def test_replace_returns_a_new_object(shipped: IpRanges) -> None:
    new = parse_snapshot({"prefixes": [{"ipv4Prefix": "203.0.113.0/24"}]}, "openai-gptbot")
    replaced = shipped.replace("openai-gptbot", new)
    assert replaced.match("openai-gptbot", "203.0.113.7")
    assert not replaced.match("openai-gptbot", "52.230.152.10")
    assert shipped.match("openai-gptbot", "52.230.152.10")  # the old object is unchanged
    assert replaced.names == shipped.names
    with pytest.raises(TypeError):
        replaced.snapshots["x"] = new  # type: ignore[index]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.0.2.1", "192.0.2.1"),
        (" 192.0.2.1 ", "192.0.2.1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("2001:DB8::1", "2001:db8::1"),
        ("garbage", None),
    ],
)
def test_parse_address(text: str, expected: str | None) -> None:
    address = parse_address(text)
    assert (str(address) if address else None) == expected


def test_parse_snapshot_accepts_the_google_format() -> None:
    data = {
        "creationTime": "2025-01-01T00:00:00.000000",
        "prefixes": [{"ipv4Prefix": "17.0.0.0/8"}, {"ipv6Prefix": "2001:db8::/32"}],
    }
    snapshot = parse_snapshot(data, "x", source="https://example.com/x.json", note="n")
    assert snapshot == Snapshot("x", "https://example.com/x.json", "n", snapshot.networks)
    assert [str(n) for n in snapshot.networks] == ["17.0.0.0/8", "2001:db8::/32"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "expected a JSON object"),
        ({}, "'prefixes' must be a non-empty list"),
        ({"prefixes": []}, "'prefixes' must be a non-empty list"),
        ({"prefixes": "192.0.2.0/24"}, "'prefixes' must be a non-empty list"),
        ({"prefixes": ["192.0.2.0/24"]}, r"prefixes\[0\]: expected an object with one key"),
        ({"prefixes": [{}]}, "expected an object with one key"),
        ({"prefixes": [{"ipv4Prefix": "1.0.0.0/8", "x": 1}]}, "one key"),
        ({"prefixes": [{"ipPrefix": "192.0.2.0/24"}]}, "unknown key 'ipPrefix'"),
        ({"prefixes": [{"ipv4Prefix": 42}]}, "must be a string"),
        ({"prefixes": [{"ipv4Prefix": "192.0.2.0/33"}]}, "not a valid network"),
        ({"prefixes": [{"ipv4Prefix": "192.0.2.1/24"}]}, "has host bits set"),
        ({"prefixes": [{"ipv4Prefix": "2001:db8::/32"}]}, "not a valid network"),
        ({"prefixes": [{"ipv6Prefix": "192.0.2.0/24"}]}, "not a valid network"),
        ({"prefixes": [{"ipv4Prefix": "<html>"}]}, "not a valid network"),
        ({"prefixes": [{"ipv4Prefix": "0.0.0.0/0"}]}, "broader than /8"),
        ({"prefixes": [{"ipv4Prefix": "16.0.0.0/7"}]}, "broader than /8"),
        ({"prefixes": [{"ipv6Prefix": "::/0"}]}, "broader than /32"),
        ({"prefixes": [{"ipv6Prefix": "2000::/3"}]}, "broader than /32"),
    ],
)
def test_parse_snapshot_errors(data: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_snapshot(data, "x")


def test_parse_snapshot_reports_several_bad_prefixes() -> None:
    data = {"prefixes": [{"ipv4Prefix": f"192.0.2.{i}/24"} for i in range(1, 9)]}
    with pytest.raises(ValueError, match=r"prefixes\[4\].*\(and 3 more\)$"):
        parse_snapshot(data, "x")


def _write(directory: Path, name: str, data: object) -> Path:
    path = directory / f"{name}.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data, indent=1))
    return path


GOOD = {
    "name": "good",
    "source": "https://example.com/good.json",
    "snapshot": "2025-01-01",
    "prefixes": [{"ipv4Prefix": "192.0.2.0/24"}],
}
BAD = {**GOOD, "name": "bad"}


def test_load_a_good_file(tmp_path: Path) -> None:
    _write(tmp_path, "good", {**GOOD, "user_agent_regex": "x", "creationTime": "t"})
    problems: list[Problem] = []
    ranges = load_ipranges(tmp_path, problems)
    assert problems == []
    assert ranges.info("good") == ("https://example.com/good.json", "2025-01-01")


def test_an_empty_directory_gives_no_ranges(tmp_path: Path) -> None:
    problems: list[Problem] = []
    assert load_ipranges(tmp_path, problems).names == ()
    assert problems == []


@pytest.mark.parametrize(
    ("data", "line", "field", "message"),
    [
        ("{", 1, None, "invalid JSON"),
        ("[]", 1, None, "expected a JSON object"),
        ({k: v for k, v in BAD.items() if k != "source"}, None, "source", "missing"),
        ({**BAD, "snapshot": ""}, 4, "snapshot", "must be a non-empty string"),
        ({**BAD, "name": 3}, 2, "name", "must be a non-empty string"),
        ({**BAD, "name": "other"}, 2, "name", "must equal the file name 'bad'"),
        ({**BAD, "source": "http://example.com/x"}, 3, "source", "must be an https URL"),
        ({**BAD, "colour": "red"}, 10, "colour", "unknown key 'colour'"),
        ({**BAD, "prefixes": []}, 5, "prefixes", "must be a non-empty list"),
        (
            {**BAD, "prefixes": [{"ipv4Prefix": "192.0.2.0/24"}, {"ipv4Prefix": "10.0.0.300/8"}]},
            10,
            "prefixes[1]",
            "not a valid network",
        ),
        ({**BAD, "prefixes": [{"ipv6Prefix": 7}]}, 7, "prefixes[0]", "must be a string"),
        ({**BAD, "prefixes": [[]]}, None, "prefixes[0]", "expected an object"),
    ],
)
def test_load_problems_are_located(
    tmp_path: Path, data: object, line: int | None, field: str | None, message: str
) -> None:
    _write(tmp_path, "good", GOOD)
    path = _write(tmp_path, "bad", data)
    problems: list[Problem] = []
    ranges = load_ipranges(tmp_path, problems)
    assert ranges.names == ("good",)
    assert len(problems) == 1, problems
    problem = problems[0]
    assert (problem.file, problem.line, problem.field) == (str(path), line, field)
    assert message in problem.message
    assert str(problem).startswith(str(path))


def test_every_problem_of_a_file_is_reported(tmp_path: Path) -> None:
    bad = {"name": "bad", "prefixes": [{"ipv4Prefix": "x"}, {"ipv6Prefix": "y"}]}
    _write(tmp_path, "bad", bad)
    problems: list[Problem] = []
    load_ipranges(tmp_path, problems)
    fields = [p.field for p in problems]
    assert fields == ["source", "snapshot", "prefixes[0]", "prefixes[1]"]
    assert all(p.rule == 'snapshot "bad"' for p in problems)


def test_unreadable_file(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_bytes(b"\xff\xfe\xfa")
    problems: list[Problem] = []
    load_ipranges(tmp_path, problems)
    assert "cannot read file" in problems[0].message
