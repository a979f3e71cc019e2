"""Independent readers of what a stamped file says: exiftool, c2pa-python, sox, flac, Pillow."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import c2pa
from PIL import Image

MIME = {
    ".mp3": "audio/mpeg",
    ".flac": "audio/flac",
    ".wav": "audio/wav",
    ".jpg": "image/jpeg",
    ".png": "image/png",
}
RESERVED_DMI = "http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING"
ALLOWED_DMI = "http://ns.useplus.org/ldf/vocab/DMI-ALLOWED"
ENTRIES = (
    "cawg.data_mining",
    "cawg.ai_training",
    "cawg.ai_generative_training",
    "cawg.ai_inference",
)


def exiftool(path: Path) -> dict[str, object]:
    out = subprocess.run(
        ["exiftool", "-json", "-G1", "-a", "-XMP:all", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)[0]


def decoded_audio(path: Path) -> bytes:
    """The samples, as sox decodes them: raw 16-bit PCM."""
    return subprocess.run(
        ["sox", str(path), "-t", "raw", "-e", "signed", "-b", "16", "-"],
        check=True,
        capture_output=True,
    ).stdout


def decoded_flac(path: Path) -> bytes:
    return subprocess.run(
        [
            "flac",
            "-d",
            "-s",
            "-c",
            "--force-raw-format",
            "--endian=little",
            "--sign=signed",
            str(path),
        ],
        check=True,
        capture_output=True,
    ).stdout


def pixels(path: Path) -> tuple[str, tuple[int, int], bytes]:
    with Image.open(path) as image:
        return image.mode, image.size, image.tobytes()


def c2pa_read(path: Path) -> tuple[str | None, dict[str, object], list[dict[str, object]]]:
    with open(path, "rb") as f, c2pa.Reader(MIME[path.suffix], f) as reader:
        active = reader.get_active_manifest()
        results = reader.get_validation_results() or {}
        return (
            reader.get_validation_state(),
            active,
            results.get("activeManifest", {}).get("failure", []),
        )


def training_mining(active: dict[str, object]) -> dict[str, str]:
    for assertion in active["assertions"]:  # type: ignore[attr-defined]
        if assertion["label"] == "cawg.training-mining":
            return {k: v["use"] for k, v in assertion["data"]["entries"].items()}
    raise AssertionError("no cawg.training-mining assertion")
