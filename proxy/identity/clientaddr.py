"""Who is the client: the peer, or what trusted proxies in front of us say it is.

Crawler verification is only as good as the address it checks. Behind a load balancer
the peer is the balancer, so the client is taken from `X-Forwarded-For` (or, when that
is absent, RFC 7239 `Forwarded: for=`), but only as far as proxies we trust vouch for
it: the list is walked from the right, past trusted hops, and the first untrusted
address is the client. Anything further left was written by that client and may be
forged. If every hop is trusted, the left-most one is the best we know.

An entry that is not an address (garbage, `unknown`, an obfuscated `_hidden`
identifier) ends the walk: skipping it would hand the choice to whatever an untrusted
client wrote further left. The result is then the last address the walk reached (a
trusted proxy), or the peer. IPv4-mapped IPv6 is normalised everywhere.

Headers are wire input: nothing here raises on them. `parse_trusted` reads our
configuration and is strict.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from proxy.identity.ipranges import Address, Network, parse_address

_PORT_V4 = re.compile(r"^(\d{1,3}(?:\.\d{1,3}){3}):\d+$")
_BRACKETED = re.compile(r"^\[([^\]]+)\](?::\d+)?$")


def parse_trusted(values: Sequence[str]) -> tuple[Network, ...]:
    """Trusted proxy networks ("10.0.0.0/8", "2001:db8::/32", "192.0.2.7")."""
    networks = []
    for value in values:
        try:
            network = ipaddress.ip_network(value.strip(), strict=True)
        except ValueError as e:
            raise ValueError(f"trusted proxy {value!r} is not an address or network: {e}") from e
        networks.append(_unmap_network(network))
    return tuple(networks)


def _unmap_network(network: Network) -> Network:
    if isinstance(network, ipaddress.IPv6Network):
        address = network.network_address.ipv4_mapped
        if address is not None and network.prefixlen >= 96:
            return ipaddress.IPv4Network((address, network.prefixlen - 96))
    return network


def client_address(
    peer: str, headers: Sequence[tuple[str, str]], trusted: Sequence[Network]
) -> str:
    """The address of the client, normalised; the peer unless trusted proxies say otherwise."""
    address = parse_address(peer)
    if address is None:
        return peer
    if not _is_trusted(address, trusted):
        return str(address)
    hops = _xff_hops(headers)
    if hops is None:
        hops = _forwarded_hops(headers)
    return str(_walk(address, hops or [], trusted))


def _walk(peer: Address, hops: list[str], trusted: Sequence[Network]) -> Address:
    found = peer
    for hop in reversed(hops):
        address = parse_hop(hop)
        if address is None:
            break
        found = address
        if not _is_trusted(address, trusted):
            break
    return found


def forwarded_for(peer: str, headers: Sequence[tuple[str, str]], trusted: Sequence[Network]) -> str:
    """The X-Forwarded-For to send upstream: the trusted chain plus the peer, else the peer.

    An untrusted client's own X-Forwarded-For is dropped, so a forged chain never
    reaches the upstream. A trusted proxy's chain is kept as it came (converted from
    `Forwarded: for=` when it sent only that) and the peer is appended.
    """
    address = parse_address(peer)
    own = str(address) if address is not None else peer
    if address is None or not _is_trusted(address, trusted):
        return own
    hops = _xff_hops(headers)
    if hops is None:
        hops = [_hop_text(h) for h in _forwarded_hops(headers) or []]
    return ", ".join([*hops, own])


def _hop_text(hop: str) -> str:
    address = parse_hop(hop)
    return str(address) if address is not None else hop or "unknown"


def _is_trusted(address: Address, trusted: Sequence[Network]) -> bool:
    return any(address.version == n.version and address in n for n in trusted)


def parse_hop(text: str) -> Address | None:
    """One forwarded hop: "192.0.2.1", "192.0.2.1:80", "[2001:db8::1]:4711", "::1"."""
    text = text.strip().strip('"')
    for pattern in (_BRACKETED, _PORT_V4):
        m = pattern.match(text)
        if m is not None:
            text = m.group(1)
            break
    if "%" in text:  # a zone index is local to the sender, never a client's address
        return None
    return parse_address(text)


def _header_values(headers: Sequence[tuple[str, str]], name: str) -> list[str] | None:
    values = [v for k, v in headers if k.lower() == name]
    return values or None


def _xff_hops(headers: Sequence[tuple[str, str]]) -> list[str] | None:
    """The hops of every X-Forwarded-For line, in order; None when there is no such header."""
    values = _header_values(headers, "x-forwarded-for")
    if values is None:
        return None
    return [hop.strip() for value in values for hop in value.split(",")]


def _forwarded_hops(headers: Sequence[tuple[str, str]]) -> list[str] | None:
    """The `for=` value of every element of every Forwarded line ("" when missing)."""
    values = _header_values(headers, "forwarded")
    if values is None:
        return None
    return [_for_param(element) for value in values for element in _split(value, ",")]


def _for_param(element: str) -> str:
    for pair in _split(element, ";"):
        key, sep, value = pair.partition("=")
        if sep and key.strip().lower() == "for":
            return value.strip().strip('"')
    return ""


def _split(text: str, separator: str) -> list[str]:
    """Split on `separator` outside quoted strings (RFC 7230 quoted-string, with escapes)."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for c in text:
        if escaped:
            escaped = False
        elif quoted and c == "\\":
            escaped = True
        elif c == '"':
            quoted = not quoted
        elif c == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(c)
    parts.append("".join(current))
    return parts
