"""The XMP container edits, attacked: Exif order, duplicate packets, bad XML, odd labels."""

from __future__ import annotations

import io
import json
import subprocess
import zlib
from pathlib import Path

import pytest
from makers import make_audio, make_image
from PIL import Image
from readers import decoded_audio

from proxy.config.reservation import Reservation
from proxy.media import images, riff, xmp
from proxy.media.stamp import SKIPPED, STAMPED, stamp_file
from proxy.media.terms import terms_from

RESERVATION = Reservation(licence="https://label.example/licensing")


def jpeg_markers(data: bytes) -> list[tuple[int, bytes]]:
    segments, _ = images._jpeg_segments(data)
    return [(marker, payload[:4]) for marker, payload in segments]


def exif_jpeg(path: Path) -> Path:
    image = Image.new("RGB", (16, 16), (10, 20, 30))
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"  # Make
    image.save(path, exif=exif.tobytes())
    return path


def test_xmp_goes_after_jfif_and_exif_and_keeps_them(tmp_path: Path) -> None:
    path = exif_jpeg(tmp_path / "a.jpg")
    before = jpeg_markers(path.read_bytes())
    assert stamp_file(path, "/a.jpg", RESERVATION, "L", None).status == STAMPED
    after = jpeg_markers(path.read_bytes())
    exif_at = next(i for i, (m, p) in enumerate(after) if m == 0xE1 and p == b"Exif")
    xmp_at = next(i for i, (m, p) in enumerate(after) if m == 0xE1 and p == b"http")
    assert exif_at < xmp_at
    assert [s for s in after if s[1] != b"http"] == before
    tags = json.loads(
        subprocess.run(
            ["exiftool", "-json", "-Make", str(path)], check=True, capture_output=True, text=True
        ).stdout
    )[0]
    assert tags["Make"] == "CameraMaker"


def test_a_second_xmp_packet_is_not_left_to_contradict_ours(tmp_path: Path) -> None:
    """A forged extra packet saying "allowed": readers that take the last one would see it."""
    path = make_image(tmp_path / "a.png")
    terms = terms_from(Reservation(), "L", False)
    forged = xmp.write(None, terms)
    data = images.put_xmp("png", path.read_bytes(), forged)
    # Append a second XMP chunk by hand, after the image data.
    chunk = images._chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + forged)
    data = data[:-12] + chunk + data[-12:]
    path.write_bytes(data)
    assert stamp_file(path, "/a.png", RESERVATION, "L", None).status == STAMPED
    out = subprocess.run(
        ["exiftool", "-a", "-s", "-XMP-plus:DataMining", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert out.splitlines() == [
        "DataMining                      : http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING"
    ]


@pytest.mark.parametrize(
    "packet",
    [
        b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><unclosed>",
        b"<html/>",
        b"\xff\xfe garbage",
        b"<!DOCTYPE x [<!ENTITY a 'aaaa'><!ENTITY b '&a;&a;&a;&a;'>]><x/>",
    ],
)
def test_a_packet_that_is_not_rdf_is_refused(tmp_path: Path, packet: bytes) -> None:
    path = tmp_path / "a.jpg"
    path.write_bytes(images.put_xmp("jpeg", make_image(path).read_bytes(), packet))
    before = path.read_bytes()
    outcome = stamp_file(path, "/a.jpg", RESERVATION, "L", None)
    assert outcome.status == SKIPPED
    assert "XMP packet" in outcome.detail
    assert path.read_bytes() == before


def test_label_and_urls_with_markup_characters_round_trip(tmp_path: Path) -> None:
    label = 'R&B <Records> "Ñoño" \u00e9'
    reservation = Reservation(licence="https://label.example/lic?a=1&b=2")
    path = make_image(tmp_path / "a.jpg")
    assert stamp_file(path, "/a.jpg", reservation, label, None).status == STAMPED
    tags = json.loads(
        subprocess.run(
            ["exiftool", "-json", "-XMP:all", str(path)], check=True, capture_output=True, text=True
        ).stdout
    )[0]
    assert tags["LicensorName"] == label
    assert tags["LicensorURL"] == "https://label.example/lic?a=1&b=2"
    assert tags["Rights"] == f"\u00a9 {label}"
    with Image.open(io.BytesIO(path.read_bytes())) as image:
        image.load()


def test_a_jpeg_cut_inside_its_scan_is_refused(tmp_path: Path) -> None:
    path = make_image(tmp_path / "a.jpg", (200, 200))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 200])
    outcome = stamp_file(path, "/a.jpg", RESERVATION, "L", None)
    assert outcome.status == SKIPPED
    assert outcome.detail == "JPEG is truncated (no EOI marker after its scan)"


def test_a_compressed_xmp_bomb_is_refused(tmp_path: Path) -> None:
    path = make_image(tmp_path / "a.png")
    bomb = zlib.compress(b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>" + b" " * (64 << 20), 9)
    chunk = images._chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x01\x00\x00\x00" + bomb)
    data = path.read_bytes()
    path.write_bytes(data[:33] + chunk + data[33:])  # after IHDR
    before = path.read_bytes()
    outcome = stamp_file(path, "/a.png", RESERVATION, "L", None)
    assert outcome.status == SKIPPED
    assert outcome.detail == "PNG XMP chunk inflates to over 1 MiB"
    assert path.read_bytes() == before


def test_a_symbolic_link_is_not_replaced_by_a_copy(tmp_path: Path) -> None:
    target = make_image(tmp_path / "real.png")
    link = tmp_path / "link.png"
    link.symlink_to(target)
    before = target.read_bytes()
    outcome = stamp_file(link, "/link.png", RESERVATION, "L", None)
    assert outcome.status == SKIPPED
    assert link.is_symlink()
    assert target.read_bytes() == before


def test_a_file_over_the_size_limit_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make_image(tmp_path / "a.png")
    monkeypatch.setattr("proxy.media.stamp.MAX_FILE", path.stat().st_size - 1)
    before = path.read_bytes()
    outcome = stamp_file(path, "/a.png", RESERVATION, "L", None)
    assert outcome.status == SKIPPED
    assert "files are stamped in memory" in outcome.detail
    assert path.read_bytes() == before


def test_wav_info_list_is_extended_not_replaced(tmp_path: Path) -> None:
    path = make_audio(tmp_path / "a.wav")
    data = path.read_bytes()
    chunks, trailer = riff.chunks(data)
    info = b"INFO" + riff._chunk(b"IART", b"ab\x00")  # odd length: a pad byte follows
    form = b"WAVE" + b"".join(riff._chunk(i, b) for i, b in [*chunks, (b"LIST", info)])
    path.write_bytes(b"RIFF" + len(form).to_bytes(4, "little") + form + trailer)
    samples = decoded_audio(path)
    assert stamp_file(path, "/a.wav", RESERVATION, "Label & Co", None).status == STAMPED
    tags = json.loads(
        subprocess.run(
            ["exiftool", "-json", "-RIFF:all", str(path)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )[0]
    assert tags["Artist"] == "ab"
    assert tags["Copyright"] == "Label & Co"
    assert decoded_audio(path) == samples
    lists = [b for i, b in riff.chunks(path.read_bytes())[0] if i == b"LIST"]
    assert len(lists) == 1
