"""Content codings (RFC 9110 §8.4.1), decoded with a bound on the decoded size.

A compressed body is wire input, and its ratio is the sender's choice: 809 bytes
of brotli can decode to 1 GiB. Every decoder here stops after `limit` decoded
bytes whatever the ratio, so memory and time stay bounded, and says whether the
whole body fit. The encoders use the fastest settings (as mitmproxy's do): a
rewritten page is re-encoded on every request.

Pure and thread-safe (mitmproxy's own `net.encoding` keeps a module-global
cache, so it must not run off the event loop).
"""

from __future__ import annotations

import gzip
import io
import zlib
from dataclasses import dataclass

import brotli

try:
    from compression import zstd  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # Python < 3.14
    from backports import zstd  # type: ignore[no-redef,unused-ignore]

IDENTITY = ("", "identity")
CODINGS = ("gzip", "x-gzip", "deflate", "br", "zstd")


@dataclass(frozen=True, slots=True)
class Decoded:
    body: bytes  # the decoded body, or its first `limit` bytes
    over_limit: bool = False  # it decodes to more than `limit` bytes: `body` is the start
    ended: bool = True  # False: the compressed stream stops short (a cut or broken body)

    @property
    def complete(self) -> bool:
        return self.ended and not self.over_limit


def decode(raw: bytes, coding: str, limit: int) -> Decoded:
    """At most `limit` bytes of `raw` decoded. ValueError: unknown coding or corrupt data."""
    coding = coding.strip().lower()
    if coding in IDENTITY:
        return Decoded(raw[:limit], over_limit=len(raw) > limit)
    if not raw:
        return Decoded(b"")
    if coding in ("gzip", "x-gzip"):
        return _zlib(raw, 16 + zlib.MAX_WBITS, limit)
    if coding == "deflate":
        try:
            return _zlib(raw, zlib.MAX_WBITS, limit)
        except ValueError:  # servers that send raw DEFLATE without the zlib wrapper
            return _zlib(raw, -zlib.MAX_WBITS, limit)
    if coding == "br":
        return _brotli(raw, limit)
    if coding == "zstd":
        return _zstd(raw, limit)
    raise ValueError(f"unsupported Content-Encoding {coding!r}")


def encode(body: bytes, coding: str) -> bytes:
    """`body` in `coding` (one of CODINGS or identity), with the fastest settings."""
    coding = coding.strip().lower()
    if coding in IDENTITY:
        return body
    if coding in ("gzip", "x-gzip"):
        out = io.BytesIO()
        with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, compresslevel=1) as f:
            f.write(body)
        return out.getvalue()
    if coding == "deflate":
        return zlib.compress(body, 1)
    if coding == "br":
        return bytes(brotli.compress(body, quality=0))
    if coding == "zstd":
        return bytes(zstd.compress(body, level=1))
    raise ValueError(f"unsupported Content-Encoding {coding!r}")


def _zlib(raw: bytes, wbits: int, limit: int) -> Decoded:
    decoder = zlib.decompressobj(wbits)
    try:
        out = decoder.decompress(raw, limit + 1)
    except zlib.error as e:
        raise ValueError(f"corrupt body: {e}") from e
    if len(out) > limit:
        return Decoded(out[:limit], over_limit=True)
    return Decoded(out, ended=decoder.eof)


def _brotli(raw: bytes, limit: int) -> Decoded:
    decoder = brotli.Decompressor()
    try:
        out = decoder.process(raw, output_buffer_limit=limit + 1)
    except brotli.error as e:
        raise ValueError(f"corrupt body: {e}") from e
    if len(out) > limit:
        return Decoded(bytes(out[:limit]), over_limit=True)
    return Decoded(bytes(out), ended=decoder.is_finished())


def _zstd(raw: bytes, limit: int) -> Decoded:
    """Frame after frame (a body may hold several), until the data or the room runs out."""
    parts: list[bytes] = []
    size, data = 0, raw
    while data:
        decoder = zstd.ZstdDecompressor()
        try:
            out = decoder.decompress(data, max_length=limit + 1 - size)
        except zstd.ZstdError as e:
            raise ValueError(f"corrupt body: {e}") from e
        parts.append(out)
        size += len(out)
        if size > limit:
            return Decoded(b"".join(parts)[:limit], over_limit=True)
        if not decoder.eof:
            return Decoded(b"".join(parts), ended=False)
        data = decoder.unused_data
    return Decoded(b"".join(parts))
