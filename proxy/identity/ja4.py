"""JA4: the TLS client fingerprint of a ClientHello (FoxIO's JA4, TLS client part only).

JA4 (TLS client) is BSD-3-Clause, Copyright (c) 2026 FoxIO; the other JA4+
methods (JA4H, JA4T, JA4X, …) carry a different licence and are not implemented.
The algorithm is FoxIO's `technical_details/JA4.md`:

    t 13 d 15 16 h2 _ sha256(sorted ciphers)[:12] _ sha256(sorted extensions _ sigalgs)[:12]

GREASE values are ignored everywhere; SNI (0000) and ALPN (0010) are counted in
the first part and left out of the extension hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

SERVER_NAME = 0x0000
SIGNATURE_ALGORITHMS = 0x000D
ALPN = 0x0010
SUPPORTED_VERSIONS = 0x002B

_VERSIONS = {
    0x0304: "13",
    0x0303: "12",
    0x0302: "11",
    0x0301: "10",
    0x0300: "s3",
    0x0002: "s2",
    0xFEFF: "d1",
    0xFEFD: "d2",
    0xFEFC: "d3",
}
TLS_NAMES = {0x0304: "1.3", 0x0303: "1.2", 0x0302: "1.1", 0x0301: "1.0"}
_EMPTY = "000000000000"


def is_grease(value: int) -> bool:
    """RFC 8701 GREASE values: 0x0a0a, 0x1a1a, … 0xfafa."""
    return (value & 0x0F0F) == 0x0A0A and (value >> 8) == (value & 0xFF)


def ja4(
    legacy_version: int,
    ciphers: Sequence[int],
    extensions: Sequence[tuple[int, bytes]],
    protocol: str = "t",
) -> str:
    """The JA4 of a ClientHello given as its version field, cipher suites and raw extensions."""
    exts = [(kind, body) for kind, body in extensions if not is_grease(kind)]
    kinds = [kind for kind, _ in exts]
    bodies = dict(exts)
    suites = [c for c in ciphers if not is_grease(c)]
    version = _VERSIONS.get(tls_version(legacy_version, bodies.get(SUPPORTED_VERSIONS)), "00")
    sni = "d" if SERVER_NAME in bodies else "i"
    first_alpn = _first_alpn(bodies.get(ALPN, b""))
    a = f"{protocol}{version}{sni}{min(len(suites), 99):02d}{min(len(kinds), 99):02d}"
    a += alpn_code(first_alpn)
    sigalgs = _u16_list(bodies.get(SIGNATURE_ALGORITHMS, b""), 2)
    return f"{a}_{cipher_hash(suites)}_{extension_hash(kinds, sigalgs)}"


def tls_version(legacy_version: int, supported_versions: bytes | None) -> int:
    """The highest non-GREASE supported_versions entry, else the ClientHello's version."""
    if supported_versions:
        offered = [v for v in _u16_list(supported_versions, 1) if not is_grease(v)]
        if offered:
            return max(offered)
    return legacy_version


def cipher_hash(ciphers: Sequence[int]) -> str:
    if not ciphers:
        return _EMPTY
    return _hash12(",".join(sorted(f"{c:04x}" for c in ciphers)))


def extension_hash(extensions: Sequence[int], sigalgs: Sequence[int]) -> str:
    kept = sorted(f"{e:04x}" for e in extensions if e not in (SERVER_NAME, ALPN))
    if not kept:
        return _EMPTY
    text = ",".join(kept)
    if sigalgs:
        text += "_" + ",".join(f"{s:04x}" for s in sigalgs if not is_grease(s))
    return _hash12(text)


def alpn_code(first: bytes) -> str:
    """First and last character of the first ALPN value; hex digits if one is not alphanumeric."""
    if not first:
        return "00"
    head, tail = chr(first[0]), chr(first[-1])
    if head.isascii() and head.isalnum() and tail.isascii() and tail.isalnum():
        return head + tail
    hexed = first.hex()
    return hexed[0] + hexed[-1]


def _first_alpn(body: bytes) -> bytes:
    """The first protocol of an ALPN extension body (2-byte list length, 1-byte lengths)."""
    if len(body) < 3:
        return b""
    size = body[2]
    return body[3 : 3 + size]


def _u16_list(body: bytes, prefix: int) -> list[int]:
    """A list of 16-bit values after a `prefix`-byte length; truncated input is cut short."""
    if len(body) < prefix:
        return []
    size = int.from_bytes(body[:prefix], "big")
    data = body[prefix : prefix + size]
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data) - 1, 2)]


def _hash12(text: str) -> str:
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:12]
