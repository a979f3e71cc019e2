"""Pseudonymous client addresses, for the people among the visitors (GDPR).

A crawler's address is the evidence (which network fetched the works), so it
is kept; a request that claims no agent is most likely a person, whose address
is personal data. It is replaced by a keyed hash: the same address gives the
same pseudonym for as long as the key is kept (so one visitor's requests can
still be told apart from another's), but without the key nobody can test which
address it was, as they could with a plain hash over the small IPv4 space.

A pseudonym is not an IP address, so it goes to ECS `source.address` (a
keyword) and `source.ip` (typed `ip` in Elasticsearch) is removed.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from typing import Any

PREFIX = "anon-"
MODES = ("crawlers-only", "off", "all")


class Pseudonymiser:
    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a pseudonym key needs at least 16 bytes")
        self._key = key

    def pseudonym(self, ip: str) -> str:
        """'anon-' and 16 hex digits; one address has one pseudonym however it is written."""
        digest = hmac.new(self._key, normalise(ip).encode(), hashlib.sha256).hexdigest()
        return PREFIX + digest[:16]


def normalise(ip: str) -> str:
    """The canonical text of an address: IPv4-mapped IPv6 unmapped, IPv6 compressed."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ip.strip().lower()
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def parse_mode(value: str) -> str:
    mode = value.strip().lower()
    if mode not in MODES:
        raise ValueError(f"log privacy must be one of {', '.join(MODES)}, not {value!r}")
    return mode


def apply_privacy(record: dict[str, Any], pseudonymiser: Pseudonymiser | None, mode: str) -> None:
    """Pseudonymise the record's client address as `mode` says, in place.

    'crawlers-only' (the default) replaces the address of requests whose
    `optout.agent` is null; 'all' replaces every address; 'off' keeps them all.
    """
    if mode == "off":
        return
    if mode not in MODES:
        raise ValueError(f"unknown log privacy mode {mode!r}")
    if pseudonymiser is None:
        raise ValueError(f"log privacy {mode!r} needs a pseudonymiser")
    if mode == "crawlers-only" and record.get("optout", {}).get("agent") is not None:
        return
    source = record.get("source")
    if not source or not source.get("ip"):
        return
    record["source"] = {
        **{k: v for k, v in source.items() if k != "ip"},
        "address": pseudonymiser.pseudonym(source["ip"]),
    }
