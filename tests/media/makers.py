"""Small real media for the tests, encoded by sox and Pillow (nothing big is committed)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from PIL import Image

from proxy.cli.main import main

SONG = ("sine", "440", "sine", "660")  # two channels, two tones: a change would show


def make_audio(path: Path, seconds: float = 0.5) -> Path:
    """A stereo 44.1 kHz file in the format of `path`'s suffix, encoded by sox."""
    subprocess.run(
        ["sox", "-n", "-r", "44100", "-c", "2", "-b", "16", str(path), "synth", str(seconds)]
        + list(SONG),
        check=True,
        capture_output=True,
    )
    return path


def make_image(path: Path, size: tuple[int, int] = (48, 32)) -> Path:
    image = Image.new("RGB", size)
    image.putdata(
        [
            ((x * 5) % 256, (y * 7) % 256, (x * y) % 256)
            for y in range(size[1])
            for x in range(size[0])
        ]
    )
    image.save(path, quality=90) if path.suffix == ".jpg" else image.save(path)
    return path


def stamp(web: Path, rules: Path, *extra: str) -> int:
    """`optout media stamp WEB --rules RULES EXTRA...`, in this process."""
    return main(["media", "stamp", str(web), "--rules", str(rules), *extra])


def signed(signing: tuple[Path, Path]) -> list[str]:
    return ["--cert", str(signing[0]), "--key", str(signing[1])]
