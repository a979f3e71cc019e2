"""JA4 against the published worked example and 64 recorded browser ClientHellos."""

from __future__ import annotations

import csv

import pytest
from paths import SHARED

from proxy.identity import ja4

CORPUS = SHARED / "corpus" / "tls" / "curl-impersonate-browser-ja4.csv"
ROWS = list(csv.DictReader(CORPUS.read_text(encoding="utf-8").splitlines()))


def u16s(values: list[int], prefix: int) -> bytes:
    data = b"".join(v.to_bytes(2, "big") for v in values)
    return len(data).to_bytes(prefix, "big") + data


def alpn(*names: bytes) -> bytes:
    data = b"".join(bytes([len(n)]) + n for n in names)
    return len(data).to_bytes(2, "big") + data


def hello(ciphers: list[int], kinds: list[int], sigalgs: list[int], first_alpn: bytes = b"h2"):
    bodies = {
        ja4.SUPPORTED_VERSIONS: u16s([0x0A0A, 0x0304, 0x0303], 1),
        ja4.SIGNATURE_ALGORITHMS: u16s(sigalgs, 2),
        ja4.ALPN: alpn(first_alpn, b"http/1.1"),
    }
    return ciphers, [(k, bodies.get(k, b"")) for k in kinds]


# The example of FoxIO's JA4.md, in wire order, with GREASE a client would add.
SPEC_CIPHERS = [0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8]
SPEC_CIPHERS += [0xC013, 0xC014, 0x009C, 0x009D, 0x002F, 0x0035]
SPEC_EXTS = [0x001B, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002D, 0x000D, 0x0005]
SPEC_EXTS += [0x0023, 0x0012, 0x002B, 0xFF01, 0x000B, 0x000A, 0x0015]
SPEC_SIGALGS = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]


def test_spec_example() -> None:
    ciphers, exts = hello([0x3A3A, *SPEC_CIPHERS], [0x2A2A, *SPEC_EXTS, 0xFAFA], SPEC_SIGALGS)
    assert ja4.ja4(0x0303, ciphers, exts) == "t13d1516h2_8daaf6152771_e5627efa2ab1"


def test_spec_example_without_signature_algorithms() -> None:
    assert ja4.extension_hash(SPEC_EXTS, []) == "6d807ffa2a79"


def test_no_sni_no_alpn_no_supported_versions() -> None:
    exts = [(k, b"") for k in (0x000A, 0x000B)]
    assert ja4.ja4(0x0303, [0x002F], exts).startswith("t12i0102" + "00_")


def test_nothing_offered_hashes_to_zeros() -> None:
    assert ja4.ja4(0x0301, [], []) == "t10i000000_000000000000_000000000000"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (b"h2", "h2"),
        (b"http/1.1", "h1"),
        (b"h", "hh"),
        (b"", "00"),
        (b"\xab", "ab"),
        (b"\x20", "20"),
        (b"\xab\xcd", "ad"),
        (b"\x20\x61", "21"),
        (b"\x30\xab", "3b"),
        (b"\x61\x20", "60"),
        (b"\x30\x31\xab\xcd", "3d"),
        (b"\x30\xab\xcd\x31", "01"),
    ],
)
def test_alpn_code(value: bytes, code: str) -> None:
    assert ja4.alpn_code(value) == code


@pytest.mark.parametrize("value", [0x0A0A, 0x1A1A, 0xFAFA])
def test_grease(value: int) -> None:
    assert ja4.is_grease(value)


@pytest.mark.parametrize("value", [0x0A1A, 0x1301, 0x0000, 0xFF01])
def test_not_grease(value: int) -> None:
    assert not ja4.is_grease(value)


def test_truncated_extension_bodies_do_not_raise() -> None:
    exts = [(ja4.SUPPORTED_VERSIONS, b"\x04\x03"), (ja4.ALPN, b"\x00"), (0x000D, b"\x00\x06\x04")]
    assert ja4.ja4(0x0303, [0x1301], exts).startswith("t12i0103" + "00_")


@pytest.mark.parametrize(
    "row", ROWS, ids=[f"{r['browser']}-{r['version']}-{r['os']}-{i}" for i, r in enumerate(ROWS)]
)
def test_recorded_browsers(row: dict[str, str]) -> None:
    _, suites, kinds, _, _ = row["ja3_text"].split(",")
    sigalgs = row["ja4_r"].split("_")[3]
    ciphers, exts = hello(
        [int(c) for c in suites.split("-")],
        [int(k) for k in kinds.split("-")],
        [int(s, 16) for s in sigalgs.split(",")],
    )
    assert ja4.ja4(0x0303, ciphers, exts) == row["ja4"]
