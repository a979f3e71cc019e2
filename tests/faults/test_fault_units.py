"""The pure parts behind the fault handling: error pages, the robots.txt capture, the options."""

from __future__ import annotations

import gzip
import zlib

import pytest
from mitmproxy import exceptions
from mitmproxy.test import taddons

from addons.limits import Limits
from addons.robots import READ_LIMIT, Capture, decode_capped
from proxy.engine import patches as enginepatch
from proxy.signals import codings
from proxy.signals.headers import HeaderSignals
from proxy.signals.robotstxt import MergedRobots


def test_upstream_timeout_becomes_a_504(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(enginepatch.STATE, "extra_headers", lambda: [("tdm-reservation", "1")])
    raw = enginepatch.error_response(502, enginepatch.UPSTREAM_TIMEOUT)
    assert raw.startswith(b"HTTP/1.1 504 ")
    assert b"took too long" in raw
    assert enginepatch.error_response(502, "server closed connection").startswith(b"HTTP/1.1 502")


def test_reservation_headers_include_the_robots_tag() -> None:
    signals = HeaderSignals((("tdm-reservation", "1"),), ("noai", "noimageai"), ())
    assert enginepatch.reservation_headers(signals) == [
        ("tdm-reservation", "1"),
        ("x-robots-tag", "noai, noimageai"),
    ]
    assert enginepatch.reservation_headers(HeaderSignals((), (), ())) == []


class _Options:
    optout_max_body = "1k"


def test_max_body_reads_the_option() -> None:
    assert enginepatch.max_body(_Options()) == 1024
    assert enginepatch.max_body(object()) is None


async def test_limits_options_are_validated() -> None:
    limits = Limits()
    with taddons.context(limits) as tctx:
        tctx.configure(limits, optout_upstream_timeout=2.5, optout_max_body="10m")
        with pytest.raises(exceptions.OptionsError, match="optout_max_body"):
            tctx.configure(limits, optout_max_body="lots")
        with pytest.raises(exceptions.OptionsError, match="optout_upstream_timeout"):
            tctx.configure(limits, optout_upstream_timeout=-1.0)


TEXT = b"User-agent: *\nDisallow: /a\n" * 100


@pytest.mark.parametrize(
    ("raw", "coding"),
    [
        (TEXT, ""),
        (gzip.compress(TEXT, mtime=0), "gzip"),
        (zlib.compress(TEXT), "deflate"),
    ],
)
def test_whole_bodies_decode_as_they_are(raw: bytes, coding: str) -> None:
    assert decode_capped(raw, coding, cut=False) == (TEXT, ())


def test_a_cut_body_keeps_whole_lines_only() -> None:
    body, notes = decode_capped(TEXT[:-5], "", cut=True)
    assert body is not None
    assert body.endswith(b"User-agent: *\n")  # the cut line is gone
    assert len(body) < len(TEXT)
    assert "only its start was read" in notes[0]


def test_a_compression_bomb_stops_at_the_limit() -> None:
    body, notes = decode_capped(gzip.compress(b"Disallow: /x\n" * (READ_LIMIT // 4)), "gzip", False)
    assert body is not None
    assert len(body) <= READ_LIMIT
    assert "decoded robots.txt over" in notes[0]


@pytest.mark.parametrize("coding", ["br", "zstd", "gzip"])
def test_the_start_of_a_cut_compressed_body_is_read(coding: str) -> None:
    text = b"User-agent: *\n" + b"".join(b"Disallow: /p%d/\n" % i for i in range(60_000))
    raw = codings.encode(text, coding)
    body, notes = decode_capped(raw[: len(raw) // 2], coding, True)
    assert body is not None
    assert body.endswith(b"\n")
    assert text.startswith(body)
    assert "only its start was read" in notes[0]


@pytest.mark.parametrize("coding", ["br", "zstd"])
def test_a_br_or_zstd_bomb_stops_at_the_limit(coding: str) -> None:
    raw = codings.encode(b"Disallow: /x\n" * (4 * READ_LIMIT // 13), coding)
    body, notes = decode_capped(raw, coding, False)
    assert body is not None
    assert len(body) <= READ_LIMIT
    assert "decoded robots.txt over" in notes[0]


@pytest.mark.parametrize(
    ("raw", "coding", "cut", "note"),
    [
        (b"not gzip", "gzip", False, "undecodable Content-Encoding gzip"),
        (b"not br", "br", False, "undecodable Content-Encoding br"),
        (b"not zstd", "zstd", True, "undecodable Content-Encoding zstd"),
    ],
)
def test_unreadable_bodies(raw: bytes, coding: str, cut: bool, note: str) -> None:
    body, notes = decode_capped(raw, coding, cut)
    assert body is None
    assert note in notes[-1]


def test_capture_sends_nothing_until_the_end_then_the_merge() -> None:
    seen: list[tuple[bytes | None, int, tuple[str, ...]]] = []

    def merge(body: bytes | None, status: int, notes: tuple[str, ...]) -> MergedRobots:
        seen.append((body, status, notes))
        return MergedRobots(200, "merged\n", False, ())

    capture = Capture(200, "")
    capture.merge = merge
    assert capture(b"a\n" * (READ_LIMIT // 2)) == []
    assert capture(b"b\n" * 10) == []  # over the limit: dropped
    assert capture(b"") == [b"merged\n"]
    assert capture(b"") == []  # once only
    ((body, status, notes),) = seen
    assert body is not None
    assert len(body) == READ_LIMIT
    assert status == 200
    assert "only its start was read" in notes[0]
