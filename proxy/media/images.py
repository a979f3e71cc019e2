"""XMP inside JPEG (an APP1 segment) and PNG (an iTXt chunk), pixels untouched.

Only the metadata container is rewritten: the JPEG's segments before its first
scan, the PNG's ancillary chunks. The compressed image data is copied byte for
byte, so nothing is re-encoded. A file that does not parse to the end (bad
markers, a bad chunk CRC, a missing IEND, a truncated scan) is refused.
"""

from __future__ import annotations

import io
import struct
import zlib

_JPEG_XMP = b"http://ns.adobe.com/xap/1.0/\x00"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_XMP = b"XML:com.adobe.xmp"
_MAX_SEGMENT = 0xFFFF - 2


def get_xmp(kind: str, data: bytes) -> bytes | None:
    """The file's XMP packet, or None; ValueError if the file does not parse."""
    if kind == "jpeg":
        for marker, payload in _jpeg_segments(data)[0]:
            if marker == 0xE1 and payload.startswith(_JPEG_XMP):
                return payload[len(_JPEG_XMP) :]
        return None
    for kind_, body in _png_chunks(data):
        if kind_ == b"iTXt" and _itxt_keyword(body) == _PNG_XMP:
            return _itxt_text(body)
    return None


def put_xmp(kind: str, data: bytes, packet: bytes) -> bytes:
    """`data` with `packet` as its only XMP packet."""
    if kind == "jpeg":
        return _put_jpeg(data, packet)
    return _put_png(data, packet)


def _put_jpeg(data: bytes, packet: bytes) -> bytes:
    segments, scan = _jpeg_segments(data)
    if len(_JPEG_XMP) + len(packet) > _MAX_SEGMENT:
        raise ValueError(f"XMP packet of {len(packet)} bytes does not fit a JPEG segment")
    ours = (0xE1, _JPEG_XMP + packet)
    kept = [s for s in segments if not (s[0] == 0xE1 and s[1].startswith(_JPEG_XMP))]
    at = next(
        (i for i, s in enumerate(segments) if s[0] == 0xE1 and s[1].startswith(_JPEG_XMP)), None
    )
    if at is None:  # after JFIF (APP0) and Exif (APP1), which must come first
        at = 0
        while at < len(kept) and kept[at][0] in (0xE0, 0xE1):
            at += 1
    else:
        at = sum(1 for s in segments[:at] if s in kept)
    kept.insert(at, ours)
    out = io.BytesIO()
    out.write(b"\xff\xd8")
    for marker, payload in kept:
        out.write(struct.pack(">BBH", 0xFF, marker, len(payload) + 2))
        out.write(payload)
    out.write(scan)
    return out.getvalue()


def _jpeg_segments(data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """The segments before the first scan, and the rest of the file from its SOS on."""
    if not data.startswith(b"\xff\xd8"):
        raise ValueError("not a JPEG file (no SOI marker)")
    segments: list[tuple[int, bytes]] = []
    i = 2
    while True:
        if i + 4 > len(data) or data[i] != 0xFF:
            raise ValueError(f"JPEG is malformed or truncated at byte {i}")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0xDA:
            scan = data[i:]
            if b"\xff\xd9" not in scan:  # inside a scan 0xFF is followed by 00 or RSTn
                raise ValueError("JPEG is truncated (no EOI marker after its scan)")
            return segments, scan
        if marker == 0xD9 or 0xD0 <= marker <= 0xD8 or marker == 0x01:
            raise ValueError(f"JPEG has marker 0x{marker:02X} before any scan")
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if length < 2 or i + 2 + length > len(data):
            raise ValueError(f"JPEG segment at byte {i} is truncated")
        segments.append((marker, data[i + 4 : i + 2 + length]))
        i += 2 + length


def _put_png(data: bytes, packet: bytes) -> bytes:
    chunks = _png_chunks(data)
    ours = b"iTXt", _PNG_XMP + b"\x00\x00\x00\x00\x00" + packet
    out = [_PNG_SIGNATURE]
    placed = False
    for kind, body in chunks:
        if kind == b"iTXt" and _itxt_keyword(body) == _PNG_XMP:
            if not placed:
                out.append(_chunk(*ours))
                placed = True
            continue
        if kind == b"IDAT" and not placed:  # metadata goes before the image data
            out.append(_chunk(*ours))
            placed = True
        out.append(_chunk(kind, body))
    return b"".join(out)


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError("not a PNG file (bad signature)")
    chunks: list[tuple[bytes, bytes]] = []
    i = len(_PNG_SIGNATURE)
    while True:
        if i + 12 > len(data):
            raise ValueError(f"PNG is truncated at byte {i} (no IEND chunk)")
        length, kind = struct.unpack(">I4s", data[i : i + 8])
        end = i + 12 + length
        if length > 0x7FFFFFFF or end > len(data):
            raise ValueError(f"PNG chunk {kind!r} at byte {i} is truncated")
        body = data[i + 8 : i + 8 + length]
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        if zlib.crc32(kind + body) != crc:
            raise ValueError(f"PNG chunk {kind!r} at byte {i} has a bad CRC")
        if not chunks and kind != b"IHDR":
            raise ValueError("PNG does not start with IHDR")
        chunks.append((kind, body))
        if kind == b"IEND":
            return chunks
        i = end


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", len(body), kind) + body + struct.pack(">I", zlib.crc32(kind + body))


def _itxt_keyword(body: bytes) -> bytes:
    return body.split(b"\x00", 1)[0]


def _itxt_text(body: bytes) -> bytes:
    """The text of an iTXt chunk: keyword, flag, method, language, translated keyword."""
    keyword, rest = body.split(b"\x00", 1)
    if len(rest) < 2:
        raise ValueError("PNG iTXt chunk is malformed")
    compressed, rest = rest[0], rest[2:]
    parts = rest.split(b"\x00", 2)
    if len(parts) != 3:
        raise ValueError("PNG iTXt chunk is malformed")
    text = parts[2]
    if compressed:
        inflate = zlib.decompressobj()
        text = inflate.decompress(text, 1 << 20)
        if inflate.unconsumed_tail:
            raise ValueError("PNG XMP chunk inflates to over 1 MiB")
    return text
