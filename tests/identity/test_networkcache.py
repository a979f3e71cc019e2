"""The compiled network tables kept on disk between starts (--cache)."""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from proxy.identity import networkcache
from proxy.identity import networks as networks_module
from proxy.identity.ipranges import IpRanges, Snapshot
from proxy.identity.networks import load_networks, use_cache_dir
from tests.paths import RULES

HEADER = "# name: {name}\n# source: https://{name}.example/\n# snapshot: 2026-01-01\n"


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "cache"
    use_cache_dir(directory)
    yield directory
    use_cache_dir(None)


def _fresh(directory: Path, ipranges: IpRanges | None = None) -> networks_module.Networks:
    """A load as a new process does it: the in-memory table of earlier loads forgotten."""
    networks_module._COMPILED.clear()
    return load_networks(directory, [], ipranges, {"gptbot": "openai"} if ipranges else None)


def _addresses(count: int) -> list[str]:
    rng = random.Random(7)
    four = [".".join(str(rng.randrange(256)) for _ in range(4)) for _ in range(count)]
    six = [f"2600:1f{rng.randrange(16):x}::{rng.randrange(65536):x}" for _ in range(count)]
    return four + six + ["3.5.140.9", "20.15.240.64", "::ffff:3.5.140.9"]


def test_a_second_start_reads_the_same_tables_back(cache: Path) -> None:
    networks = (ipaddress.ip_network("20.15.240.64/28"),)
    ranges = IpRanges({"gptbot": Snapshot("gptbot", "https://x.example/", "test", networks)})
    compiled = _fresh(RULES / "networks", ranges)
    assert len(list(cache.glob("networks-*.json"))) == 1
    read_back = _fresh(RULES / "networks", ranges)
    assert read_back is not compiled
    assert read_back.size == compiled.size
    assert read_back.snapshots == compiled.snapshots
    for ip in _addresses(2000):
        assert read_back.lookup_uncached(ip) == compiled.lookup_uncached(ip), ip
    assert read_back.lookup("20.15.240.70").crawler_range == "gptbot"


def test_a_changed_snapshot_is_compiled_again(cache: Path, tmp_path: Path) -> None:
    rules = tmp_path / "networks"
    rules.mkdir()
    (rules / "a.txt").write_text(HEADER.format(name="a") + "# provider: one\n1.0.0.0/8\n")
    assert _fresh(rules).lookup("1.2.3.4").provider == "one"
    (rules / "a.txt").write_text(HEADER.format(name="a") + "# provider: two\n1.0.0.0/8\n")
    assert _fresh(rules).lookup("1.2.3.4").provider == "two"


@pytest.mark.parametrize(
    "damage",
    [
        b"",
        b"{not json",
        b"[1, 2]",
        b'{"key": "KEY", "format": 1, "labels": [[1, 2, 3, 4, 5]]}',
        b'{"key": "KEY", "format": 1, "labels": [], "tables": {"v4": {}}}',
        b'{"key": "KEY", "format": 99}',
    ],
    ids=["empty", "not-json", "a-list", "bad-label", "no-table", "other-format"],
)
def test_a_damaged_cache_means_compiling_again(cache: Path, tmp_path: Path, damage: bytes) -> None:
    rules = tmp_path / "networks"
    rules.mkdir()
    (rules / "a.txt").write_text(HEADER.format(name="a") + "# provider: one\n1.0.0.0/8\n")
    _fresh(rules)
    (saved,) = cache.glob("networks-*.json")
    key = saved.read_text().rpartition('"key":"')[2].partition('"')[0]
    saved.write_bytes(damage.replace(b"KEY", key.encode()))
    assert _fresh(rules).lookup("1.2.3.4").provider == "one"


def test_an_unwritable_cache_changes_nothing(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("a file where the directory should be")
    use_cache_dir(blocked / "cache")
    try:
        rules = tmp_path / "networks"
        rules.mkdir()
        (rules / "a.txt").write_text(HEADER.format(name="a") + "# provider: one\n1.0.0.0/8\n")
        assert _fresh(rules).lookup("1.2.3.4").provider == "one"
    finally:
        use_cache_dir(None)


def test_a_few_sets_of_ranges_are_kept(cache: Path, tmp_path: Path) -> None:
    rules = tmp_path / "networks"
    rules.mkdir()
    for n in range(networkcache._KEEP + 2):
        (rules / "a.txt").write_text(HEADER.format(name="a") + f"# provider: p{n}\n1.0.0.0/8\n")
        _fresh(rules)
    assert len(list(cache.glob("networks-*.json"))) == networkcache._KEEP
