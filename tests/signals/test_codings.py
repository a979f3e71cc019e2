"""proxy.signals.codings: every coding round-trips, and no body decodes past the limit."""

from __future__ import annotations

import gzip
import resource
import zlib

import brotli
import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.signals import codings

try:
    from compression import zstd  # type: ignore[import-not-found,unused-ignore]
except ImportError:
    from backports import zstd  # type: ignore[no-redef,unused-ignore]

MIB = 1024 * 1024
PAGE = b"<html><head><title>x</title></head><body>" + b"la " * 3000 + b"</body></html>"


def bomb(coding: str, size: int) -> bytes:
    """`size` zero bytes, compressed: a few KB on the wire."""
    chunk, count = b"\0" * MIB, size // MIB
    if coding == "br":
        c = brotli.Compressor(quality=5)
        return b"".join(c.process(chunk) for _ in range(count)) + c.finish()
    if coding == "zstd":
        z = zstd.ZstdCompressor(level=3)
        return b"".join(z.compress(chunk) for _ in range(count)) + z.flush()
    wbits = 31 if coding == "gzip" else 15
    d = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return b"".join(d.compress(chunk) for _ in range(count)) + d.flush()


@pytest.mark.parametrize("coding", ["", "identity", "gzip", "x-gzip", "deflate", "br", "zstd"])
def test_round_trip(coding: str) -> None:
    decoded = codings.decode(codings.encode(PAGE, coding), coding, len(PAGE))
    assert decoded == codings.Decoded(PAGE)
    assert decoded.complete


@given(st.binary(max_size=4000), st.sampled_from(codings.CODINGS))
def test_any_body_round_trips(body: bytes, coding: str) -> None:
    assert codings.decode(codings.encode(body, coding), coding, 4000).body == body


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "zstd"])
def test_a_bomb_stops_at_the_limit(coding: str) -> None:
    raw = bomb(coding, 256 * MIB)
    assert len(raw) < 300_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    decoded = codings.decode(raw, coding, MIB)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert decoded.over_limit
    assert not decoded.complete
    assert decoded.body == b"\0" * MIB
    assert grown_kib < 64 * 1024  # nowhere near the 256 MiB it would decode to


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_a_cut_stream_gives_its_start_and_says_so(coding: str) -> None:
    raw = codings.encode(PAGE, coding)
    decoded = codings.decode(raw[: len(raw) // 2], coding, MIB)
    assert not decoded.ended
    assert not decoded.over_limit
    assert PAGE.startswith(decoded.body)


def test_deflate_without_the_zlib_wrapper_is_read() -> None:
    raw = zlib.compress(PAGE)[2:-4]  # raw DEFLATE, as some servers send it
    assert codings.decode(raw, "deflate", MIB).body == PAGE


def test_several_zstd_frames_are_one_body() -> None:
    raw = zstd.compress(b"first ") + zstd.compress(b"second")
    assert codings.decode(raw, "zstd", MIB) == codings.Decoded(b"first second")


def test_identity_over_the_limit_is_cut() -> None:
    assert codings.decode(b"abcdef", "identity", 4) == codings.Decoded(b"abcd", over_limit=True)


@pytest.mark.parametrize(
    ("raw", "coding"),
    [
        (b"\x1f\x8b not gzip", "gzip"),
        (b"not deflate", "deflate"),
        (b"not brotli at all", "br"),
        (b"not zstd", "zstd"),
        (gzip.compress(PAGE, mtime=0), "compress"),
        (gzip.compress(PAGE, mtime=0), "gzip, br"),
    ],
)
def test_corrupt_or_unknown_is_a_value_error(raw: bytes, coding: str) -> None:
    with pytest.raises(ValueError, match="corrupt body|unsupported Content-Encoding"):
        codings.decode(raw, coding, MIB)
