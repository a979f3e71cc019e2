"""Providers' range documents → the rows of a rules/networks/ snapshot.

Each publisher has its own format; `convert(format, text)` reads one and returns
`(prefix, service, region)` rows, prefixes normalised and deduplicated (the first
service and region seen for a prefix is kept: AWS lists a prefix once per service,
"AMAZON" last). The snapshot files and the refresher share these converters, so a
refreshed copy is the same shape as the shipped one. Raises ValueError.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

Row = tuple[str, str | None, str | None]


def convert(format: str, text: str) -> list[Row]:
    reader = FORMATS.get(format)
    if reader is None:
        raise ValueError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")
    rows: dict[str, Row] = {}
    for prefix, service, region in reader(text):
        try:
            network = ipaddress.ip_network(prefix.strip(), strict=False)
        except ValueError:
            raise ValueError(f"{prefix!r} is not a network prefix") from None
        if _not_public(network):
            continue  # some lists carry documentation or private blocks (Vultr: 192.0.2.0/24)
        key = str(network)
        known = rows.get(key)
        if known is None or (known[1] in (None, "AMAZON") and service not in (None, "AMAZON")):
            rows[key] = (key, _word(service), _word(region))
    if not rows:
        raise ValueError("the document holds no prefixes")
    return list(rows.values())


def render(header: dict[str, str], rows: Iterable[Row]) -> str:
    """The text of a snapshot file: `# key: value` lines, then one row a line."""
    lines = [f"# {k}: {v}" for k, v in header.items()]
    lines += [" ".join((p, s or "-", r or "-")).removesuffix(" - -") for p, s, r in rows]
    return "\n".join(lines) + "\n"


def _not_public(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    return network.is_private or network.is_reserved or network.is_multicast


def _word(value: str | None) -> str | None:
    """One whitespace-free token (a row is split on spaces), or None."""
    value = (value or "").strip()
    return "_".join(value.split()) if value else None


def _aws(text: str) -> Iterator[Row]:
    data = json.loads(text)
    for entry in [*data.get("prefixes", []), *data.get("ipv6_prefixes", [])]:
        yield (
            entry.get("ip_prefix") or entry["ipv6_prefix"],
            entry.get("service"),
            entry.get("region"),
        )


def _google(text: str) -> Iterator[Row]:
    for entry in json.loads(text)["prefixes"]:
        prefix = entry.get("ipv4Prefix") or entry["ipv6Prefix"]
        yield prefix, entry.get("service"), entry.get("scope")


def _azure(text: str) -> Iterator[Row]:
    data = json.loads(text)
    tags: list[dict[str, Any]] = data["values"] if "values" in data else [data]
    # Broad tags first, so a regional or service tag of the same prefix wins.
    for tag in sorted(tags, key=lambda t: (bool(t["properties"].get("region")), t["name"])):
        props = tag["properties"]
        service = props.get("systemService") or None
        for prefix in props["addressPrefixes"]:
            yield prefix, service, props.get("region") or None


def _oracle(text: str) -> Iterator[Row]:
    for region in json.loads(text)["regions"]:
        for cidr in region["cidrs"]:
            yield cidr["cidr"], "/".join(cidr.get("tags", [])) or None, region["region"]


def _cloudflare(text: str) -> Iterator[Row]:
    result = json.loads(text)["result"]
    for key, service in (("ipv4_cidrs", None), ("ipv6_cidrs", None), ("jdcloud_cidrs", "jdcloud")):
        for prefix in result.get(key, []):
            yield prefix, service, None


def _fastly(text: str) -> Iterator[Row]:
    data = json.loads(text)
    for prefix in [*data.get("addresses", []), *data.get("ipv6_addresses", [])]:
        yield prefix, None, None


def _github(text: str) -> Iterator[Row]:
    for key, value in json.loads(text).items():
        if key == "actions":
            continue  # whole Azure regions its runners may use: Azure's list says so better
        if isinstance(value, list) and value and all("/" in str(v) for v in value):
            for prefix in value:
                yield prefix, key, None


def _geofeed(text: str) -> Iterator[Row]:
    """RFC 8805: prefix,country,region,city,postal; the region is its ISO 3166-2 code."""
    lines = (line for line in io.StringIO(text) if line.strip() and not line.startswith("#"))
    for fields in csv.reader(lines):
        region = fields[2] if len(fields) > 2 and fields[2] else (fields + ["", ""])[1]
        yield fields[0], None, region or None


def _cidrs(text: str) -> Iterator[Row]:
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            yield line, None, None


FORMATS: dict[str, Callable[[str], Iterable[Row]]] = {
    "aws-json": _aws,
    "google-json": _google,
    "azure-json": _azure,
    "oracle-json": _oracle,
    "cloudflare-json": _cloudflare,
    "fastly-json": _fastly,
    "github-json": _github,
    "geofeed-csv": _geofeed,
    "cidr-text": _cidrs,
}
