"""The RIFF INFO list of a WAV file: `ICOP`, the copyright field players and editors show.

Chunks are copied byte for byte; only the `LIST`/`INFO` chunk is rebuilt (or
appended), and the RIFF size follows. RF64 (over 4 GiB) is not handled.
"""

from __future__ import annotations

import struct

_INFO = b"INFO"


def chunks(data: bytes) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """The top-level chunks (id, body) and whatever trails the RIFF form."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a RIFF WAVE file")
    (size,) = struct.unpack("<I", data[4:8])
    end = 8 + size
    if end > len(data):
        raise ValueError(f"WAV is truncated: RIFF says {end} bytes, the file has {len(data)}")
    found = []
    i = 12
    while i + 8 <= end:
        ident, length = struct.unpack("<4sI", data[i : i + 8])
        if i + 8 + length > end:
            raise ValueError(f"WAV chunk {ident!r} at byte {i} is truncated")
        found.append((ident, data[i + 8 : i + 8 + length]))
        i += 8 + length + (length & 1)
    return found, data[end:]


def copyright_of(data: bytes) -> str | None:
    for ident, body in chunks(data)[0]:
        if ident == b"LIST" and body[:4] == _INFO:
            for sub, text in _subchunks(body[4:]):
                if sub == b"ICOP":
                    return text.rstrip(b"\x00").decode("utf-8", "replace") or None
    return None


def with_copyright(data: bytes, text: str) -> bytes:
    """`data` with an ICOP field of `text` if it has none (a label's own notice stays)."""
    if copyright_of(data) is not None:
        return data
    found, trailer = chunks(data)
    field = text.encode("utf-8") + b"\x00"
    icop = (b"ICOP", field)
    for index, (ident, body) in enumerate(found):
        if ident == b"LIST" and body[:4] == _INFO:
            found[index] = (
                ident,
                _INFO + b"".join(_chunk(*c) for c in [*_subchunks(body[4:]), icop]),
            )
            break
    else:
        found.append((b"LIST", _INFO + _chunk(*icop)))
    form = b"WAVE" + b"".join(_chunk(ident, body) for ident, body in found)
    return b"RIFF" + struct.pack("<I", len(form)) + form + trailer


def _subchunks(body: bytes) -> list[tuple[bytes, bytes]]:
    found = []
    i = 0
    while i + 8 <= len(body):
        ident, length = struct.unpack("<4sI", body[i : i + 8])
        if i + 8 + length > len(body):
            raise ValueError("WAV INFO list is truncated")
        found.append((ident, body[i + 8 : i + 8 + length]))
        i += 8 + length + (length & 1)
    return found


def _chunk(ident: bytes, body: bytes) -> bytes:
    return struct.pack("<4sI", ident, len(body)) + body + (b"\x00" if len(body) & 1 else b"")
