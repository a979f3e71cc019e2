"""The reservation in audio tags: ID3v2 in MP3 and WAV, Vorbis comments in FLAC.

ID3 has the frames for it: TCOP (copyright, set only where the file names no
holder), WCOP (the licensing URL), USER (terms of use: the notice) and TXXX
frames named as TDMRep's properties (`tdm-reservation`, `tdm-policy`). FLAC
gets COPYRIGHT, LICENSE and TDM-RESERVATION / TDM-POLICY comments; WAV also
gets an INFO `ICOP` (copyright) where it has none (proxy.media.riff). mutagen
rewrites only the tag; the audio frames are copied as they are.
"""

from __future__ import annotations

import io
from typing import Any, NamedTuple

from mutagen import MutagenError
from mutagen.flac import FLAC
from mutagen.id3 import ID3, TCOP, TXXX, USER, WCOP, Encoding
from mutagen.mp3 import MP3
from mutagen.wave import WAVE

from proxy.media import riff
from proxy.media.terms import Terms

_RESERVATION, _POLICY = "tdm-reservation", "tdm-policy"


class Said(NamedTuple):
    tdm_reservation: str | None
    tdm_policy: str | None
    licence_url: str | None
    notice: str | None
    copyright: str | None


def read(kind: str, data: bytes) -> Said:
    audio = _open(kind, data)
    if kind == "flac":
        tags = audio.tags
        return Said(
            _first(tags, "TDM-RESERVATION"),
            _first(tags, "TDM-POLICY"),
            _first(tags, "LICENSE"),
            None,
            _first(tags, "COPYRIGHT"),
        )
    id3: ID3 | None = audio.tags
    if id3 is None:
        return Said(None, None, None, None, None)
    return Said(
        _text(id3, f"TXXX:{_RESERVATION}"),
        _text(id3, f"TXXX:{_POLICY}"),
        next((str(f.url) for f in id3.getall("WCOP")), None),
        next((str(f.text) for f in id3.getall("USER")), None),
        _text(id3, "TCOP"),
    )


def agrees(kind: str, said: Said, terms: Terms, data: bytes = b"") -> bool:
    if said.tdm_reservation != ("1" if terms.reserved else "0"):
        return False
    if said.tdm_policy != terms.tdm_policy:
        return False
    if terms.licence_url and said.licence_url != terms.licence_url:
        return False
    if kind != "flac" and said.notice != terms.notice:
        return False
    if kind == "wav" and terms.owner and riff.copyright_of(data) is None:
        return False
    return bool(said.copyright) or not terms.owner


def write(kind: str, data: bytes, terms: Terms) -> bytes:
    """`data` with the tags set to `terms`; the audio is copied unchanged."""
    buffer = io.BytesIO(data)
    audio = _open(kind, data, buffer)
    if audio.tags is None:
        audio.add_tags()
    if kind == "flac":
        tags = audio.tags
        tags["TDM-RESERVATION"] = "1" if terms.reserved else "0"
        if terms.tdm_policy:
            tags["TDM-POLICY"] = terms.tdm_policy
        elif "TDM-POLICY" in tags:
            del tags["TDM-POLICY"]
        if terms.licence_url:
            tags["LICENSE"] = terms.licence_url
        if terms.owner and not _first(tags, "COPYRIGHT"):
            tags["COPYRIGHT"] = terms.owner
        buffer.seek(0)
        audio.save(buffer)
    else:
        id3 = audio.tags
        version = 3 if id3.version[:2] == (2, 3) else 4  # keep a v2.3 tag v2.3 for old players
        id3.setall("TXXX:" + _RESERVATION, [_txxx(_RESERVATION, "1" if terms.reserved else "0")])
        if terms.tdm_policy:
            id3.setall("TXXX:" + _POLICY, [_txxx(_POLICY, terms.tdm_policy)])
        else:
            id3.delall("TXXX:" + _POLICY)
        if terms.licence_url:
            id3.setall("WCOP", [WCOP(url=terms.licence_url)])
        id3.setall("USER", [USER(encoding=Encoding.UTF8, lang="eng", text=terms.notice)])
        if terms.owner and not _text(id3, "TCOP"):
            id3.setall("TCOP", [TCOP(encoding=Encoding.UTF8, text=[terms.owner])])
        buffer.seek(0)
        audio.save(buffer, v2_version=version)
    if kind == "wav" and terms.owner:
        return riff.with_copyright(buffer.getvalue(), terms.owner)
    return buffer.getvalue()


def _open(kind: str, data: bytes, buffer: io.BytesIO | None = None) -> Any:
    cls = {"mp3": MP3, "wav": WAVE, "flac": FLAC}[kind]
    try:
        audio = cls(buffer or io.BytesIO(data))
    except (MutagenError, ValueError, EOFError) as e:  # mutagen's errors for bad files
        raise ValueError(f"not a readable {kind.upper()} file: {e}") from None
    if kind == "mp3" and not getattr(audio.info, "length", 0):
        raise ValueError("not a readable MP3 file: no audio frames")
    return audio


def _txxx(desc: str, value: str) -> TXXX:
    return TXXX(encoding=Encoding.UTF8, desc=desc, text=[value])


def _text(id3: ID3, key: str) -> str | None:
    frame = id3.get(key)
    if frame is None or not frame.text:
        return None
    return str(frame.text[0])


def _first(tags: Any, key: str) -> str | None:
    if tags is None:
        return None
    values = tags.get(key)
    return str(values[0]) if values else None
