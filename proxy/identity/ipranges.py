"""Published IP ranges of crawler operators: rules/ipranges/*.json, one snapshot per list.

Each file keeps the vendor's own (Google-style) format, `{"prefixes": [{"ipv4Prefix":
...} | {"ipv6Prefix": ...}]}`, plus `name`, `source` (the URL it came from, which the
refresher fetches) and `snapshot` (the date or a note saying where the copy came from).

Matching runs on every request that claims an agent, so each snapshot is compiled at
load time into sorted, merged integer ranges per address family and looked up with
bisect: the cost is a logarithm of the list size, not a walk over hundreds of
networks. IPv4-mapped IPv6 (`::ffff:a.b.c.d`, what a dual-stack socket reports) is
matched as the IPv4 address it carries.

Our files are strict: every bad key or prefix is a located Problem. A fetched
document is checked by the same `parse_snapshot`, which raises ValueError instead.
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from proxy.errors import Problem

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_FILE_KEYS = ("name", "source", "snapshot", "prefixes")
# Keys the vendors' documents (and the Anubis copies we started from) carry; kept, unused.
_EXTRA_KEYS = ("user_agent_regex", "creationTime", "syncToken", "fetched_at")
_FAMILIES: dict[str, type[ipaddress.IPv4Network] | type[ipaddress.IPv6Network]] = {
    "ipv4Prefix": ipaddress.IPv4Network,
    "ipv6Prefix": ipaddress.IPv6Network,
}
# A source that is broken or taken over must not verify a large part of the internet.
_BROADEST = {4: 8, 6: 32}
_MAX_REPORTED = 5  # parse_snapshot's message names at most this many bad prefixes


@dataclass(frozen=True, slots=True)
class _Ranges:
    """Disjoint, sorted [start, end] integer ranges of one address family."""

    starts: tuple[int, ...]
    ends: tuple[int, ...]

    def __contains__(self, value: int) -> bool:
        i = bisect.bisect_right(self.starts, value) - 1
        return i >= 0 and value <= self.ends[i]


def _compile(networks: Iterable[Network]) -> _Ranges:
    merged: list[list[int]] = []
    spans = ((int(n.network_address), int(n.broadcast_address)) for n in networks)
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return _Ranges(tuple(s for s, _ in merged), tuple(e for _, e in merged))


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One published list: where it comes from, how current it is, and its networks."""

    name: str
    source: str
    note: str
    networks: tuple[Network, ...]
    _v4: _Ranges = field(init=False, repr=False, compare=False)
    _v6: _Ranges = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        v4 = (n for n in self.networks if n.version == 4)
        v6 = (n for n in self.networks if n.version == 6)
        object.__setattr__(self, "_v4", _compile(v4))
        object.__setattr__(self, "_v6", _compile(v6))

    def contains(self, address: Address) -> bool:
        ranges = self._v4 if address.version == 4 else self._v6
        return int(address) in ranges


@functools.lru_cache(maxsize=4096)  # every request parses its client's address, often twice
def parse_address(text: str) -> Address | None:
    """An address with IPv4-mapped IPv6 unmapped, or None when `text` is not an address."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True, slots=True)
class IpRanges:
    """Every snapshot by name. Immutable: `replace` returns a new object to swap in."""

    snapshots: Mapping[str, Snapshot] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "snapshots", MappingProxyType(dict(self.snapshots)))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self.snapshots))

    def info(self, name: str) -> tuple[str, str]:
        """(source URL, snapshot date or note) of a snapshot; KeyError if unknown."""
        snapshot = self.snapshots[name]
        return snapshot.source, snapshot.note

    def match(self, name: str, ip: str) -> bool:
        """Whether `ip` lies in snapshot `name`. Never raises: unknown or invalid is False."""
        snapshot = self.snapshots.get(name)
        address = parse_address(ip)
        return snapshot is not None and address is not None and snapshot.contains(address)

    def replace(self, name: str, snapshot: Snapshot) -> IpRanges:
        return IpRanges({**self.snapshots, name: snapshot})


def parse_snapshot(data: object, name: str, *, source: str = "", note: str = "") -> Snapshot:
    """Check a Google-style `{"prefixes": [...]}` document; ValueError says what is wrong."""
    if not isinstance(data, dict):
        raise ValueError(f"{name}: expected a JSON object with 'prefixes'")
    networks, errors = _parse_prefixes(data.get("prefixes"))
    if errors:
        shown = "; ".join(f"{_field(i)}: {message}" for i, message in errors[:_MAX_REPORTED])
        more = len(errors) - _MAX_REPORTED
        raise ValueError(f"{name}: {shown}" + (f" (and {more} more)" if more > 0 else ""))
    return Snapshot(name, source, note, networks)


def _parse_prefixes(entries: object) -> tuple[tuple[Network, ...], list[tuple[int | None, str]]]:
    """All networks, and (index, message) for each bad entry: every one is reported."""
    if not isinstance(entries, list) or not entries:
        return (), [(None, "'prefixes' must be a non-empty list")]
    networks: list[Network] = []
    errors: list[tuple[int | None, str]] = []
    for i, entry in enumerate(entries):
        try:
            networks.append(_parse_prefix(entry))
        except ValueError as e:
            errors.append((i, str(e)))
    return tuple(networks), errors


def _parse_prefix(entry: object) -> Network:
    if not isinstance(entry, dict) or len(entry) != 1:
        raise ValueError("expected an object with one key, 'ipv4Prefix' or 'ipv6Prefix'")
    ((key, value),) = entry.items()
    family = _FAMILIES.get(key)
    if family is None:
        raise ValueError(f"unknown key {key!r}; expected 'ipv4Prefix' or 'ipv6Prefix'")
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string, not {value!r}")
    try:
        network = family(value, strict=True)
    except ValueError as e:
        raise ValueError(f"{key} {value!r} is not a valid network: {e}") from None
    if network.prefixlen < _BROADEST[network.version]:
        raise ValueError(
            f"{key} {value!r} is broader than /{_BROADEST[network.version]}: no crawler "
            "list is that large, and it would verify anyone in it"
        )
    return network


def load_ipranges(directory: Path, problems: list[Problem]) -> IpRanges:
    """Load every *.json snapshot of `directory`; append each problem found to `problems`."""
    snapshots: dict[str, Snapshot] = {}
    for path in sorted(directory.glob("*.json")):
        snapshot = _load_file(path, problems)
        if snapshot is not None:
            snapshots[snapshot.name] = snapshot
    return IpRanges(snapshots)


def _load_file(path: Path, problems: list[Problem]) -> Snapshot | None:
    file, rule = str(path), f'snapshot "{path.stem}"'
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, UnicodeDecodeError) as e:
        problems.append(Problem(file, None, f"cannot read file: {e}"))
        return None
    except json.JSONDecodeError as e:
        problems.append(Problem(file, e.lineno, f"invalid JSON: {e.msg}"))
        return None
    if not isinstance(data, dict):
        problems.append(Problem(file, 1, "expected a JSON object with " + ", ".join(_FILE_KEYS)))
        return None
    found = [(_line(text, key), key, message) for key, message in _check_keys(data, path.stem)]
    networks, errors = _parse_prefixes(data.get("prefixes"))
    for index, message in errors:
        if index is None:
            found.append((_line(text, "prefixes"), "prefixes", message))
        else:
            found.append((_entry_line(text, data["prefixes"][index]), _field(index), message))
    problems.extend(Problem(file, line, message, rule, key) for line, key, message in found)
    if found:
        return None
    return Snapshot(path.stem, data["source"], data["snapshot"], networks)


def _check_keys(data: dict[str, object], stem: str) -> list[tuple[str, str]]:
    """(key, message) for each problem of the keys besides `prefixes`."""
    found = [(k, f"unknown key {k!r}") for k in data if k not in (*_FILE_KEYS, *_EXTRA_KEYS)]
    for key in ("name", "source", "snapshot"):
        value = data.get(key)
        if key not in data:
            found.append((key, "missing"))
        elif not isinstance(value, str) or not value.strip():
            found.append((key, "must be a non-empty string"))
        elif key == "name" and value != stem:
            found.append((key, f"must equal the file name {stem!r}, not {value!r}"))
        elif key == "source" and not value.startswith("https://"):
            found.append((key, "must be an https URL"))
    return found


def _field(index: int | None) -> str:
    return "prefixes" if index is None else f"prefixes[{index}]"


def _entry_line(text: str, entry: object) -> int | None:
    if isinstance(entry, dict) and len(entry) == 1:
        ((key, value),) = entry.items()
        return _line(text, str(key), value)
    return None


def _line(text: str, key: str, value: object = None) -> int | None:
    """The line of `"key":` (with `value`, if given): json keeps no positions, so search."""
    pattern = re.escape(json.dumps(key)) + r"\s*:"
    if value is not None:
        pattern += r"\s*" + re.escape(json.dumps(value))
    found = re.search(pattern, text)
    return None if found is None else text.count("\n", 0, found.start()) + 1
