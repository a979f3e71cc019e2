"""`optout media check` and `optout check --media`: a file's statements against the policy."""

from __future__ import annotations

import io
import json
from pathlib import Path

import c2pa
import pytest
from makers import signed, stamp

from proxy.cli.main import main
from proxy.config.reservation import Reservation
from proxy.media import images, xmp
from proxy.media.keys import make_test_pair
from proxy.media.terms import terms_from


def check(rules: Path, web: Path, *files: str, json_out: bool = True) -> int:
    flags = ["--json"] if json_out else []
    paths = [str(web / f) for f in files]
    return main(["media", "check", "--rules", str(rules), "--root", str(web), *flags, *paths])


def reports(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_an_unstamped_file_says_nothing(
    web: Path, rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check(rules, web, "media/cover.png", "media/preview.mp3") == 1
    for report in reports(capsys):
        assert report["agrees"] is False
        assert report["c2pa"] is None
        assert report["problems"] == [
            "says nothing of the reservation; the policy says reserved=true"
        ]


def test_a_stamped_file_agrees(
    web: Path, rules: Path, signing: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert stamp(web, rules, *signed(signing)) == 0
    capsys.readouterr()
    assert check(rules, web, "media/cover.png", "media/preview.flac", "press/photo.jpg") == 0
    png, flac, press = reports(capsys)
    assert png["url_path"] == "/media/cover.png"
    assert png["says"]["XMP plus:DataMining"].endswith("DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING")
    assert png["c2pa"]["state"] == "Valid"
    assert png["c2pa"]["trusted"] is False  # a test pair
    assert png["c2pa"]["training_mining"]["cawg.ai_training"] == "notAllowed"
    assert flac["says"]["Vorbis TDM-RESERVATION"] == "1"
    assert press["policy_reserved"] is False
    assert press["c2pa"]["training_mining"]["cawg.ai_training"] == "allowed"
    assert check(rules, web, "media/preview.mp3", json_out=False) == 0
    text = capsys.readouterr().out
    assert "agrees with the policy (reserved=true)" in text
    assert "C2PA signature: signature valid; signed by" in text


def test_an_edited_file_no_longer_verifies(
    web: Path, rules: Path, signing: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert stamp(web, rules, *signed(signing)) == 0
    cover = web / "media/cover.jpg"
    data = cover.read_bytes()  # someone rewrites the XMP to say "allowed"
    allowed = xmp.write(images.get_xmp("jpeg", data), terms_from(Reservation(), "L", False))
    cover.write_bytes(images.put_xmp("jpeg", data, allowed))
    capsys.readouterr()
    assert check(rules, web, "media/cover.jpg") == 1
    (report,) = reports(capsys)
    problems = report["problems"]
    assert any(
        "XMP plus:DataMining is 'http://ns.useplus.org/ldf/vocab/DMI-ALLOWED'" in p
        for p in problems
    )
    assert any(
        p.startswith("its C2PA manifest does not verify (assertion.dataHash.mismatch")
        for p in problems
    )
    capsys.readouterr()
    assert main(["check", "--rules", str(rules), "--media", str(web)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1
    assert out[0].startswith(f"{cover} (/media/cover.jpg): ")


def test_a_manifest_contradicting_the_metadata_is_reported(
    web: Path, rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Someone else's valid manifest saying "allowed" on a file whose XMP says reserved."""
    assert stamp(web, rules) == 0
    cover = web / "media/cover.png"
    pair = make_test_pair("Scraper Inc")
    definition = {
        "claim_generator_info": [{"name": "other"}],
        "assertions": [
            {
                "label": "cawg.training-mining",
                "data": {
                    "entries": {
                        "cawg.data_mining": {"use": "allowed"},
                        "cawg.ai_training": {"use": "allowed"},
                        "cawg.ai_generative_training": {"use": "allowed"},
                        "cawg.ai_inference": {"use": "allowed"},
                    }
                },
            }
        ],
    }
    out = io.BytesIO()
    signer = c2pa.Signer.from_info(
        c2pa.C2paSignerInfo(b"es256", pair.chain_pem, pair.key_pem, None)
    )
    builder = c2pa.Builder(json.dumps(definition))
    builder.set_intent(c2pa.C2paBuilderIntent.EDIT)
    builder.sign(signer, "image/png", io.BytesIO(cover.read_bytes()), out)
    cover.write_bytes(out.getvalue())
    capsys.readouterr()
    assert check(rules, web, "media/cover.png") == 1
    (report,) = reports(capsys)
    assert report["says"]["XMP plus:DataMining"].endswith(
        "DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING"
    )
    assert report["c2pa"]["state"] == "Valid"
    assert report["problems"] == [
        "its C2PA manifest says cawg.data_mining=allowed, cawg.ai_training=allowed, "
        "cawg.ai_generative_training=allowed, cawg.ai_inference=allowed; the policy says notAllowed"
    ]


def test_a_file_that_is_not_media(
    web: Path, rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (web / "notes.txt").write_text("hello")
    (web / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 10)
    assert check(rules, web, "notes.txt", "broken.png") == 1
    txt, png = reports(capsys)
    assert txt["problems"] == ["not a JPEG, PNG, MP3, WAV or FLAC file"]
    assert png["problems"] == ["PNG is truncated at byte 8 (no IEND chunk)"]
