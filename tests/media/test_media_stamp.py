"""`optout media stamp` end to end, each result read back by an independent reader.

exiftool reads the XMP of the images, c2pa-python's Reader the manifests, mutagen
the tags; sox, flac and Pillow decode the audio and pixels before and after.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import c2pa
import mutagen
import pytest
from makers import signed, stamp
from readers import (
    ALLOWED_DMI,
    ENTRIES,
    MIME,
    RESERVED_DMI,
    c2pa_read,
    decoded_audio,
    decoded_flac,
    exiftool,
    pixels,
    training_mining,
)

from proxy.cli.main import main


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_unsigned_stamp_is_read_by_exiftool_and_mutagen(
    web: Path, rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert stamp(web, rules) == 0
    err = capsys.readouterr().err
    assert "no --cert/--key: writing unsigned metadata only" in err
    for name in ("media/cover.jpg", "media/cover.png"):
        tags = exiftool(web / name)
        assert tags["XMP-plus:DataMining"] == RESERVED_DMI
        assert tags["XMP-plus:LicensorURL"] == "https://label.example/licensing"
        assert tags["XMP-xmpRights:WebStatement"] == "https://label.example/licensing"
        assert tags["XMP-tdm:Reservation"] == 1
        assert "Art. 4(3)" in str(tags["XMP-plus:OtherConstraints"])
    # The press kit is not reserved (a path override): the same resolution as the headers.
    assert exiftool(web / "press/photo.jpg")["XMP-plus:DataMining"] == ALLOWED_DMI
    for name in ("media/preview.mp3", "media/preview.wav"):
        tags = mutagen.File(web / name).tags
        assert tags["TCOP"].text == ["Northern Lights Records"]
        assert tags["WCOP"].url == "https://label.example/licensing"
        assert tags["TXXX:tdm-reservation"].text == ["1"]
        assert tags["TXXX:tdm-policy"].text == ["https://label.example/tdm-policy.json"]
        assert "Art. 4(3)" in tags.getall("USER")[0].text
    riff = subprocess.run(
        ["exiftool", "-json", "-RIFF:Copyright", str(web / "media/preview.wav")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert '"Copyright": "Northern Lights Records"' in riff
    flac = mutagen.File(web / "media/preview.flac")
    assert flac["TDM-RESERVATION"] == ["1"]
    assert flac["LICENSE"] == ["https://label.example/licensing"]
    for path in web.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                with pytest.raises(c2pa.C2paError):
                    c2pa.Reader(MIME[path.suffix], f)  # unsigned: no manifest at all


def test_signed_stamp_carries_a_valid_cawg_assertion(
    web: Path, rules: Path, signing: tuple[Path, Path]
) -> None:
    assert stamp(web, rules, *signed(signing)) == 0
    for name in (
        "media/preview.mp3",
        "media/cover.png",
        "media/cover.jpg",
        "media/preview.flac",
        "media/preview.wav",
    ):
        state, active, failures = c2pa_read(web / name)
        assert state == "Valid", (name, failures)
        # The test pair is on no trust list; nothing else may fail.
        assert [f["code"] for f in failures] == ["signingCredential.untrusted"], name
        assert training_mining(active) == dict.fromkeys(ENTRIES, "notAllowed")
        assert (
            active["signature_info"]["common_name"]
            == "Northern Lights Records media signing (test)"
        )
    state, active, _ = c2pa_read(web / "press/photo.jpg")
    assert training_mining(active) == dict.fromkeys(ENTRIES, "allowed")
    # Signing came last: the metadata is still there for the other readers.
    assert exiftool(web / "media/cover.png")["XMP-plus:DataMining"] == RESERVED_DMI
    assert mutagen.File(web / "media/preview.mp3").tags["TXXX:tdm-reservation"].text == ["1"]


@pytest.mark.parametrize("signed_run", [False, True])
def test_samples_and_pixels_are_unchanged(
    web: Path, rules: Path, signing: tuple[Path, Path], signed_run: bool
) -> None:
    media = web / "media"
    audio = {n: decoded_audio(media / n) for n in ("preview.mp3", "preview.flac", "preview.wav")}
    flac = decoded_flac(media / "preview.flac")
    images = {n: pixels(media / n) for n in ("cover.jpg", "cover.png")}
    before = snapshot(web)
    assert stamp(web, rules, *(signed(signing) if signed_run else [])) == 0
    assert all(before[k] != v for k, v in snapshot(web).items()), "every file was stamped"
    for name, samples in audio.items():
        assert len(samples) > 40000
        assert decoded_audio(media / name) == samples, name
    assert decoded_flac(media / "preview.flac") == flac
    for name, image in images.items():
        assert pixels(media / name) == image, name


@pytest.mark.parametrize("signed_run", [False, True])
def test_a_second_run_changes_nothing(
    web: Path,
    rules: Path,
    signing: tuple[Path, Path],
    signed_run: bool,
    capsys: pytest.CaptureFixture[str],
) -> None:
    flags = signed(signing) if signed_run else []
    assert stamp(web, rules, *flags) == 0
    first = snapshot(web)
    mtimes = {p: p.stat().st_mtime_ns for p in web.rglob("*")}
    capsys.readouterr()
    assert stamp(web, rules, *flags) == 0
    assert snapshot(web) == first
    assert {p: p.stat().st_mtime_ns for p in web.rglob("*")} == mtimes  # not even rewritten
    out = capsys.readouterr().out
    assert out.count("unchanged: ") == 6
    assert "stamped: " not in out


def test_unparsable_files_are_skipped_untouched(
    web: Path, rules: Path, signing: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    media = web / "media"
    (media / "garbage.mp3").write_bytes(os.urandom(4096))
    (media / "garbage.jpg").write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(500))
    (media / "text.png").write_text("<html>not a png</html>")
    (media / "cut.png").write_bytes((media / "cover.png").read_bytes()[:-30])
    (media / "cut.jpg").write_bytes((media / "cover.jpg").read_bytes()[:400])
    (media / "cut.flac").write_bytes((media / "preview.flac").read_bytes()[:30])
    (media / "cut.wav").write_bytes((media / "preview.wav").read_bytes()[:30])
    (media / "empty.mp3").write_bytes(b"")
    bad = [
        "garbage.mp3",
        "garbage.jpg",
        "text.png",
        "cut.png",
        "cut.jpg",
        "cut.flac",
        "cut.wav",
        "empty.mp3",
    ]
    before = {n: (media / n).read_bytes() for n in bad}
    assert stamp(web, rules, *signed(signing)) == 1
    out = capsys.readouterr().out
    for name in bad:
        assert (media / name).read_bytes() == before[name], name
        assert f"skipped: {media / name} (/media/{name}): " in out, name
    assert out.count("stamped: ") == 6  # the good files were still stamped
    assert not list(web.rglob("*.optout-tmp"))


def test_dry_run_writes_nothing(web: Path, rules: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(web)
    assert stamp(web, rules, "--dry-run") == 0
    assert snapshot(web) == before
    assert capsys.readouterr().out.count("would stamp: ") == 6


def test_existing_metadata_is_kept(web: Path, rules: Path) -> None:
    cover, song = web / "media/cover.jpg", web / "media/preview.mp3"
    subprocess.run(
        [
            "exiftool",
            "-q",
            "-overwrite_original",
            "-XMP-dc:Creator=Aurora",
            "-XMP-dc:Rights=(c) 2024 Aurora",
            "-XMP-plus:OtherConstraints=Free for all",
            str(cover),
        ],
        check=True,
    )
    tags = mutagen.File(song)
    tags.add_tags()
    tags.tags.add(mutagen.id3.TIT2(encoding=3, text=["Aurora"]))
    tags.tags.add(mutagen.id3.TCOP(encoding=3, text=["2024 Aurora"]))
    tags.save()
    assert stamp(web, rules) == 0
    xmp = exiftool(cover)
    assert xmp["XMP-dc:Creator"] == "Aurora"
    assert xmp["XMP-dc:Rights"] == "(c) 2024 Aurora"  # the file's own notice wins
    assert xmp["XMP-plus:DataMining"] == RESERVED_DMI
    assert "Art. 4(3)" in xmp["XMP-plus:OtherConstraints"]  # ours replaced, not duplicated
    id3 = mutagen.File(song).tags
    assert id3["TIT2"].text == ["Aurora"]
    assert id3["TCOP"].text == ["2024 Aurora"]


def test_a_policy_change_restamps_and_resigns(
    web: Path, rules: Path, signing: tuple[Path, Path]
) -> None:
    assert stamp(web, rules, *signed(signing)) == 0
    policy = rules / "policy.yaml"
    policy.write_text(
        policy.read_text().replace(
            "    - {name: press-kit, path: /press/, reserved: false}\n",
            "    - {name: press-kit, path: /press/, reserved: false}\n"
            "    - {name: previews, content_type: audio/*, reserved: false}\n",
        )
    )
    assert main(["check", "--rules", str(rules), "--media", str(web)]) == 1
    assert stamp(web, rules, *signed(signing)) == 0
    assert main(["check", "--rules", str(rules), "--media", str(web)]) == 0
    state, active, _ = c2pa_read(web / "media/preview.mp3")
    assert state == "Valid"
    assert training_mining(active) == dict.fromkeys(ENTRIES, "allowed")
    assert mutagen.File(web / "media/preview.mp3").tags["TXXX:tdm-reservation"].text == ["0"]
    state, active, _ = c2pa_read(web / "media/cover.png")  # images stay reserved
    assert state == "Valid"
    assert training_mining(active) == dict.fromkeys(ENTRIES, "notAllowed")


def test_unsigned_changes_never_break_a_valid_manifest(
    web: Path, rules: Path, signing: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert stamp(web, rules, *signed(signing)) == 0
    policy = rules / "policy.yaml"
    policy.write_text(
        policy.read_text().replace(
            "path: /press/, reserved: false", "path: /media/, reserved: false"
        )
    )
    before = snapshot(web)
    capsys.readouterr()
    assert stamp(web, rules) == 1
    assert snapshot(web) == before
    assert "valid C2PA manifest that unsigned changes would break" in capsys.readouterr().out


def test_credentials_that_cannot_sign_are_refused(
    web: Path,
    rules: Path,
    signing: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    other = tmp_path / "other"
    assert main(["media", "keygen", "--out", str(other)]) == 0
    before = snapshot(web)
    assert stamp(web, rules, "--cert", str(signing[0]), "--key", str(other / "media-key.pem")) == 1
    assert "the key does not belong to the first certificate" in capsys.readouterr().err
    assert stamp(web, rules, "--cert", str(signing[1]), "--key", str(signing[1])) == 1
    assert "not a PEM certificate chain" in capsys.readouterr().err
    assert stamp(web, rules, "--cert", str(signing[0])) == 2
    assert snapshot(web) == before


def test_keygen_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["media", "keygen", "--out", str(tmp_path)]) == 0
    key = (tmp_path / "media-key.pem").read_bytes()
    assert (tmp_path / "media-key.pem").stat().st_mode & 0o777 == 0o600
    assert main(["media", "keygen", "--out", str(tmp_path)]) == 1
    assert "exists; refusing to overwrite" in capsys.readouterr().err
    assert (tmp_path / "media-key.pem").read_bytes() == key
