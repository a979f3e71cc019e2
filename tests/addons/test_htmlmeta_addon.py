"""HtmlMeta: what a rewritten page says about itself, and what is never rewritten."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import brotli
import pytest
from flows import make_flow, records, run, upstream_response
from mitmproxy.test import taddons

from addons import default_addons
from addons.htmlmeta import DECODED_LIMIT
from proxy.engine.pipeline import Pipeline
from proxy.ruleset import Ruleset
from proxy.signals import codings
from proxy.store.logwriter import LogWriter

PAGE = b"<html><head><title>x</title></head><body>" + b"la " * 100 + b"</body></html>"


@pytest.fixture
def big(shipped: Ruleset, tmp_path: Path) -> Iterator[Pipeline]:
    """Pages up to 2 MiB on the wire are buffered, as in the proxy."""
    p = Pipeline(shipped, LogWriter(str(tmp_path / "access.jsonl")), html_limit=2 * 1024 * 1024)
    with taddons.context(*default_addons(p)):
        yield p
    p.log.close()


def _served(pipe: Pipeline, body: bytes, method: str = "GET", **headers: str) -> dict[str, str]:
    flow = make_flow()
    flow.request.method = method
    run(default_addons(pipe), flow, lambda f: upstream_response(f, "text/html", body, **headers))
    assert flow.response is not None
    answer = dict(flow.response.headers)
    answer["body"] = (flow.response.raw_content or b"").decode("latin-1")
    return answer


def test_a_rewritten_page_drops_the_origins_validators_and_digests(big: Pipeline) -> None:
    md5 = hashlib.md5(PAGE).hexdigest()  # noqa: S324 - what the origin sent
    answer = _served(
        big, PAGE, etag='"v1"', content_md5=md5, digest="sha-256=:x:", repr_digest="sha-256=:x:"
    )
    assert 'name="tdm-reservation"' in answer["body"]
    assert answer["etag"] == 'W/"v1"'
    for name in ("content-md5", "digest", "repr-digest"):
        assert name not in answer
    assert answer["content-length"] == str(len(answer["body"]))


def test_a_weak_etag_stays_as_it_is(big: Pipeline) -> None:
    assert _served(big, PAGE, etag='W/"v1"')["etag"] == 'W/"v1"'


@pytest.mark.parametrize(
    "headers", [{"content_range": "bytes 0-99/5000"}, {"content_range": "bytes 0-99/*"}]
)
def test_partial_content_is_never_rewritten(big: Pipeline, headers: dict[str, str]) -> None:
    answer = _served(big, PAGE, etag='"v1"', **headers)
    assert answer["body"] == PAGE.decode()
    assert answer["etag"] == '"v1"'
    assert answer["tdm-reservation"] == "1"  # the header signals are on it regardless


def test_head_does_not_announce_the_origins_length(big: Pipeline) -> None:
    get = _served(big, PAGE, etag='"v1"')
    head = _served(big, b"", "HEAD", etag='"v1"', content_length=str(len(PAGE)))
    assert "content-length" not in head
    assert head["etag"] == get["etag"]


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd", "deflate"])
def test_compressed_pages_are_rewritten_and_reencoded(big: Pipeline, coding: str) -> None:
    answer = _served(big, codings.encode(PAGE, coding), content_encoding=coding)
    body = codings.decode(answer["body"].encode("latin-1"), coding, 1 << 20).body
    assert b'name="tdm-reservation"' in body
    assert answer["content-encoding"] == coding


def test_a_compression_bomb_passes_as_sent_with_a_note(big: Pipeline) -> None:
    c = brotli.Compressor(quality=5)
    chunk = b"<p>" + b"a" * (1 << 20)
    raw = b"".join(c.process(chunk) for _ in range(64)) + c.finish()  # 64 MiB decoded
    assert len(raw) < 100_000
    answer = _served(big, raw, content_encoding="br")
    assert answer["body"].encode("latin-1") == raw
    assert answer["tdm-reservation"] == "1"
    (record,) = records(big)
    assert record["optout"]["notes"] == [
        f"page decodes to over {DECODED_LIMIT} bytes: passed as sent"
    ]
