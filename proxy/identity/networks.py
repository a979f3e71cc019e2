"""Where a client address is: cloud and hosting providers' ranges, and crawler ranges.

rules/networks/*.txt holds one snapshot per published list, in a compact form that
loads fast (`proxy.identity.networkformats` converts the providers' documents):

    # name: aws
    # provider: aws
    # source: https://ip-ranges.amazonaws.com/ip-ranges.json
    # snapshot: 2026-08-22 (createDate 2026-08-22-15-17-05)
    # format: aws-json
    3.2.34.0/26 EC2 af-south-1
    52.95.245.0/24 AMAZON -

`prefix [service [region]]` a line, `-` for none. `# tier: aggregate` marks a broad
list built from ASNs (lower confidence): a named provider's range wins over it.

Every snapshot and every crawler range (rules/ipranges/) is flattened at load time
into one sorted list of disjoint integer intervals per address family, each
labelled with the `Network` it stands for. A first-level index by the top 16 bits
answers most addresses with one list index (their /16, or IPv6 /16, lies wholly in
one interval or in none); the rest are one bisect within their bucket. Where
ranges nest, the most specific wins (a crawler range and a provider range are kept
side by side: GPTBot's range is also Azure's).
"""

from __future__ import annotations

import bisect
import logging
import re
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType

from proxy.errors import Problem
from proxy.identity import networkcache
from proxy.identity.intervals import (
    BUCKET_BITS,
    Span,
    bucket_index,
    flatten,
    overlay,
    parse_prefix,
)
from proxy.identity.ipranges import IpRanges, parse_address
from proxy.model import RESIDENTIAL, Network

AGGREGATE = "aggregate"
_HEADER_KEYS = ("name", "provider", "source", "snapshot", "format", "tier")
_REQUIRED = ("name", "provider", "source", "snapshot")
_NOWHERE = Network(RESIDENTIAL)
_CACHE_SIZE = 65536
_COMPILED: dict[object, Networks] = {}
_SAVED: Path | None = None  # the refresher's directory, when refreshing is on
_CACHE_DIR: Path | None = None  # where compiled tables are kept between starts (--cache)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
log = logging.getLogger(__name__)
_pton, _AF_INET, _AF_INET6 = socket.inet_pton, socket.AF_INET, socket.AF_INET6
_bisect, _from_bytes = bisect.bisect_right, int.from_bytes


@dataclass(frozen=True, slots=True)
class NetworkSnapshot:
    """One provider list: where it came from, and its (version, first, last, service, region)."""

    name: str
    provider: str
    source: str
    note: str
    format: str = ""
    aggregate: bool = False
    spans: tuple[tuple[int, int, int, str | None, str | None], ...] = ()
    count: int = 0  # prefixes: a compiled Networks keeps the count, not the spans


class _Table:
    """Disjoint sorted intervals of one address family and the Network of each.

    With a first-level index by the top 16 bits (intervals.bucket_index): most
    addresses are answered by it alone, the others by a bisect over their bucket.
    """

    __slots__ = ("starts", "ends", "labels", "shift", "direct", "first")

    def __init__(self, starts: list[int], ends: list[int], labels: list[Network], bits: int):
        self.starts, self.ends, self.labels = starts, ends, labels
        self.shift = bits - BUCKET_BITS
        self.direct, self.first = bucket_index(starts, ends, labels, bits, _NOWHERE)

    def find(self, value: int) -> Network:
        """The straightforward search (the index is an optimisation of it)."""
        i = bisect.bisect_right(self.starts, value) - 1
        return self.labels[i] if i >= 0 and value <= self.ends[i] else _NOWHERE


_NO_V4, _NO_V6 = _Table([], [], [], 32), _Table([], [], [], 128)  # shared: never changed


class Networks:
    """Every provider snapshot and crawler range, compiled for lookups."""

    __slots__ = ("snapshots", "_v4", "_v6", "_cache")

    def __init__(
        self,
        snapshots: Mapping[str, NetworkSnapshot] | None = None,
        v4: _Table | None = None,
        v6: _Table | None = None,
    ) -> None:
        self.snapshots: Mapping[str, NetworkSnapshot] = MappingProxyType(dict(snapshots or {}))
        self._v4 = v4 or _NO_V4
        self._v6 = v6 or _NO_V6
        # Clients come back: most lookups are one dict hit. Bounded, cleared when full.
        self._cache: dict[str, Network] = {}

    @property
    def providers(self) -> frozenset[str]:
        return frozenset(s.provider for s in self.snapshots.values())

    @property
    def size(self) -> int:
        """How many intervals the lookup searches (both families)."""
        return len(self._v4.starts) + len(self._v6.starts)

    def lookup(self, ip: str) -> Network:
        """The network of `ip`; RESIDENTIAL for an address no list holds, or no address."""
        found = self._cache.get(ip)
        if found is None:
            found = self.lookup_uncached(ip)
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[ip] = found
        return found

    def lookup_uncached(self, ip: str) -> Network:
        # The hot path: local names, the bucket index, one bisect at most, no call per step.
        try:  # inet_pton is ten times faster than ipaddress, and as strict
            if ":" not in ip:
                value, table = _from_bytes(_pton(_AF_INET, ip)), self._v4
            else:
                value, table = _from_bytes(_pton(_AF_INET6, ip)), self._v6
                if value >> 32 == 0xFFFF:  # IPv4-mapped: what a dual-stack socket reports
                    value, table = value & 0xFFFFFFFF, self._v4
        except (OSError, ValueError):
            address = parse_address(ip)  # spaces, a zone index (fe80::1%eth0), or no address
            if address is None:
                return _NOWHERE
            return (self._v4 if address.version == 4 else self._v6).find(int(address))
        bucket = value >> table.shift
        found = table.direct[bucket]
        if found is not None:
            return found
        first = table.first
        i = _bisect(table.starts, value, first[bucket], first[bucket + 1] + 1) - 1
        return table.labels[i] if i >= 0 and value <= table.ends[i] else _NOWHERE

    def lookup_plain(self, ip: str) -> Network:
        """`lookup_uncached` the straightforward way: ipaddress, one bisect over all intervals.

        Slower; for the tests and the benchmark to hold the fast path to.
        """
        address = parse_address(ip)
        if address is None:
            return _NOWHERE
        return (self._v4 if address.version == 4 else self._v6).find(int(address))


def build_networks(
    snapshots: Iterable[NetworkSnapshot],
    ipranges: IpRanges | None = None,
    operators: Mapping[str, str] | None = None,
) -> Networks:
    """Compile provider snapshots and crawler ranges (with `operators`: range → operator)."""
    snapshots = tuple(snapshots)
    tables = []
    for version in (4, 6):
        named: list[Span] = []
        broad: list[Span] = []
        for snap in snapshots:
            into = broad if snap.aggregate else named
            into.extend(
                (first, last, (snap.provider, service, region))
                for v, first, last, service, region in snap.spans
                if v == version
            )
        crawlers: list[Span] = [
            (int(n.network_address), int(n.broadcast_address), (name, (operators or {}).get(name)))
            for name, snap in (ipranges.snapshots.items() if ipranges is not None else ())
            for n in snap.networks
            if n.version == version
        ]
        providers = [
            (start, end, b if b is not None else a)
            for start, end, a, b in overlay(flatten(broad), flatten(named))
        ]
        tables.append(_compile(overlay(providers, flatten(crawlers)), 32 if version == 4 else 128))
    # The tables hold everything lookups need; the spans would double the memory.
    kept = {s.name: replace(s, spans=(), count=len(s.spans)) for s in snapshots}
    return Networks(kept, tables[0], tables[1])


def _compile(pieces: Iterable[tuple[int, int, object, object]], bits: int) -> _Table:
    """The lookup table: adjacent pieces of one network merged, Networks interned."""
    interned: dict[tuple[object, object], Network] = {}
    starts: list[int] = []
    ends: list[int] = []
    labels: list[Network] = []
    for start, end, provider, crawler in pieces:
        label = interned.get((provider, crawler))
        if label is None:
            label = interned[(provider, crawler)] = _network(provider, crawler)
        if labels and labels[-1] is label and ends[-1] + 1 == start:
            ends[-1] = end
        else:
            starts.append(start)
            ends.append(end)
            labels.append(label)
    return _Table(starts, ends, labels, bits)


def _network(provider: object, crawler: object) -> Network:
    name, service, region = provider if isinstance(provider, tuple) else (RESIDENTIAL, None, None)
    crawler_range, operator = crawler if isinstance(crawler, tuple) else (None, None)
    return Network(name, service, region, crawler_range, operator)


def load_networks(
    directory: Path,
    problems: list[Problem],
    ipranges: IpRanges | None = None,
    operators: Mapping[str, str] | None = None,
) -> Networks:
    """Load every *.txt snapshot of `directory` (none if it is missing) and compile them.

    Compiling takes about a second with every shipped snapshot, so the result is kept
    for unchanged files and ranges: a reload that touched only the policy reuses it.
    """
    shipped = sorted(directory.glob("*.txt")) if directory.is_dir() else []
    paths = [_newest(path) for path in shipped]
    key: tuple[object, ...] | None
    try:
        files = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in paths)
        key = (files, _ranges_key(ipranges), tuple(sorted((operators or {}).items())))
    except OSError:
        key = None  # a file vanished while listing: load it the slow way, reporting it
    cached = _COMPILED.get(key) if key is not None else None
    if cached is not None:
        return cached
    networks, found = _load_or_compile(paths, ipranges, operators, key)
    problems.extend(found)
    if key is not None and not found:
        _COMPILED.clear()  # one set of rules at a time; a reload replaces it
        _COMPILED[key] = networks
    return networks


def _load_or_compile(
    paths: list[Path],
    ipranges: IpRanges | None,
    operators: Mapping[str, str] | None,
    key: tuple[object, ...] | None,
) -> tuple[Networks, list[Problem]]:
    """The compiled tables from the disk cache when its key matches, else compiled (and saved)."""
    digest = None
    if _CACHE_DIR is not None and key is not None:
        try:
            digest = networkcache.cache_key(paths, key[1:])
        except OSError:
            digest = None
        document = networkcache.read(_CACHE_DIR, digest) if digest else None
        if document is not None:
            try:
                return from_document(document), []
            except (KeyError, TypeError, ValueError, IndexError) as e:
                log.info("network cache ignored, compiling: %r", e)
    found: list[Problem] = []
    snapshots = [snap for path in paths if (snap := load_snapshot(path, found)) is not None]
    networks = build_networks(snapshots, ipranges, operators)
    if digest and not found and _CACHE_DIR is not None:
        networkcache.write(_CACHE_DIR, digest, to_document(networks))
    return networks, found


def to_document(networks: Networks) -> dict[str, object]:
    """The compiled tables as JSON values: labels once, each interval naming its label."""
    labels: dict[Network, int] = {}
    tables = {}
    for name, table in (("v4", networks._v4), ("v6", networks._v6)):
        index = [labels.setdefault(label, len(labels)) for label in table.labels]
        tables[name] = {"starts": table.starts, "ends": table.ends, "labels": index}
    fields = ("name", "provider", "source", "note", "format", "aggregate", "count")
    return {
        "format": networkcache.FORMAT,
        "labels": [
            [n.provider, n.service, n.region, n.crawler_range, n.crawler_operator] for n in labels
        ],
        "tables": tables,
        "snapshots": [[getattr(s, f) for f in fields] for s in networks.snapshots.values()],
    }


def from_document(document: Mapping[str, object]) -> Networks:
    """Networks from `to_document`'s values; ValueError (or a lookup error) if malformed."""
    if document.get("format") != networkcache.FORMAT:
        raise ValueError("another cache format")
    labels = []
    for row in _rows(document["labels"]):
        provider, service, region, crawler_range, operator = map(_optional, row)
        if provider is None:
            raise ValueError("a label without a provider")
        labels.append(Network(provider, service, region, crawler_range, operator))
    tables = []
    for name, bits in (("v4", 32), ("v6", 128)):
        raw = document["tables"][name]  # type: ignore[index]
        starts, ends = list(map(int, raw["starts"])), list(map(int, raw["ends"]))
        picked = [labels[i] for i in raw["labels"]]
        if not len(starts) == len(ends) == len(picked) or starts != sorted(starts):
            raise ValueError(f"table {name} is inconsistent")
        tables.append(_Table(starts, ends, picked, bits))
    snapshots = {}
    for row in _rows(document["snapshots"]):
        name, provider, source, note, form = map(str, row[:5])
        aggregate, count = row[5:]
        if not isinstance(count, int):
            raise ValueError(f"snapshot {name}: count {count!r} is not a number")
        snapshots[name] = NetworkSnapshot(
            name, provider, source, note, form, bool(aggregate), count=count
        )
    return Networks(snapshots, tables[0], tables[1])


def _rows(value: object) -> list[list[object]]:
    if not isinstance(value, list) or not all(isinstance(row, list) for row in value):
        raise ValueError("expected a list of rows")
    return value


def _optional(value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{value!r} is not text")
    return value


def use_cache_dir(directory: Path | None) -> None:
    """Keep compiled tables in `directory` between starts (None: never). Set by the commands."""
    global _CACHE_DIR
    _CACHE_DIR = directory


def use_saved_copies(directory: Path | None) -> None:
    """Prefer the refresher's copies in `directory` to shipped files (None: never).

    Set once by the runner when refreshing is on, like `--ipranges-refresh` itself.
    """
    global _SAVED
    _SAVED = directory


def _newest(path: Path) -> Path:
    """The refreshed copy of a shipped file when it is good, from its source, and newer."""
    saved = _SAVED / path.name if _SAVED is not None else None
    if saved is None or not saved.is_file():
        return path
    try:
        ours, theirs = _header(path), _header(saved)
        problems: list[Problem] = []
        if parse_snapshot_text(saved.read_text("utf-8"), path.stem, str(saved), problems) is None:
            raise ValueError("; ".join(p.message for p in problems[:3]))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        log.warning("provider ranges: ignoring saved copy %s: %s", saved, e)
        return path
    shipped_date = _DATE.search(ours.get("snapshot", ""))
    fetched = _DATE.search(theirs.get("snapshot", ""))
    same_source = ours.get("source") == theirs.get("source")
    newer = fetched is not None and (not shipped_date or fetched.group() >= shipped_date.group())
    return saved if same_source and newer else path


def _header(path: Path) -> dict[str, str]:
    header: dict[str, str] = {}
    with path.open(encoding="utf-8") as f:
        for line in f:
            if not line.startswith("#"):
                break
            key, _, value = line[1:].partition(":")
            header[key.strip()] = value.strip()
    return header


def _ranges_key(ipranges: IpRanges | None) -> tuple[object, ...]:
    if ipranges is None:
        return ()
    return tuple((name, ipranges.snapshots[name].networks) for name in ipranges.names)


def load_snapshot(path: Path, problems: list[Problem]) -> NetworkSnapshot | None:
    """One snapshot file; its problems (with line numbers) go to `problems`."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        problems.append(Problem(str(path), None, f"cannot read file: {e}"))
        return None
    return parse_snapshot_text(text, path.stem, str(path), problems)


def parse_snapshot_text(
    text: str, stem: str, file: str, problems: list[Problem]
) -> NetworkSnapshot | None:
    """A snapshot from its text; every bad header or line is a located Problem."""
    rule = f'network snapshot "{stem}"'
    problems_before = len(problems)
    header: dict[str, str] = {}
    spans: list[tuple[int, int, int, str | None, str | None]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("#"):
            key, colon, value = line[1:].partition(":")
            if colon and key.strip() in _HEADER_KEYS:
                header[key.strip()] = value.strip()
            continue
        fields = line.split()
        if not fields:
            continue
        try:
            version, first, last = parse_prefix(fields[0])
        except ValueError as e:
            problems.append(Problem(file, number, str(e), rule, "prefix"))
            continue
        service = fields[1] if len(fields) > 1 and fields[1] != "-" else None
        region = fields[2] if len(fields) > 2 and fields[2] != "-" else None
        spans.append((version, first, last, service, region))
    for key in _REQUIRED:
        if not header.get(key):
            problems.append(Problem(file, 1, f"missing header '# {key}: …'", rule, key))
    if header.get("name", stem) != stem:
        problems.append(Problem(file, 1, f"name must equal the file name {stem!r}", rule, "name"))
    if not header.get("source", "https://").startswith("https://"):
        problems.append(Problem(file, 1, "source must be an https URL", rule, "source"))
    if not spans:
        problems.append(Problem(file, None, "no prefixes", rule, "prefix"))
    if len(problems) > problems_before:
        return None
    return NetworkSnapshot(
        stem,
        header["provider"],
        header["source"],
        header["snapshot"],
        header.get("format", ""),
        header.get("tier") == AGGREGATE,
        tuple(spans),
    )
