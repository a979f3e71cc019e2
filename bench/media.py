"""`python -m bench.media`: files per second stamping media with the reservation (issue 23).

Two sets: the demo site's cover and preview (copied 200 times each, as a small
catalogue of the same files), and a few thousand generated files (PNG and JPEG
covers made with Pillow, one-second MP3, FLAC and WAV previews made with sox,
each copied). Every mode starts from a fresh copy of the set and runs
`stamp_tree` as `optout media stamp` does:

- `copy`: read every file and replace it through the same temporary file and
  rename, unchanged: the I/O floor, the baseline of the ratios;
- `unsigned`: XMP, ID3 and Vorbis comments only;
- `signed`: the same and a signed C2PA manifest (ES256, a test pair);
- `second run`: `signed` again on its own output, which changes nothing.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image

from proxy.config.reservation import Reservation
from proxy.media import manifests, stamp
from proxy.media.files import media_files
from proxy.media.keys import make_test_pair

DEMO = Path(__file__).resolve().parents[1] / "proxy/demo/static/media"
RESERVATION = Reservation(
    tdm_policy="https://label.example/tdm-policy.json", licence="https://label.example/licensing"
)
LABEL = "Northern Lights Records"


def demo_set(root: Path, copies: int = 200) -> Path:
    for i in range(copies):
        for source in DEMO.iterdir():
            shutil.copyfile(source, root / f"{source.stem}-{i}{source.suffix}")
    return root


def generated_set(root: Path, count: int = 3000) -> Path:
    rng = random.Random(23)
    audio = []
    for suffix in (".mp3", ".flac", ".wav"):
        path = root / f"source{suffix}"
        subprocess.run(
            ["sox", "-n", "-r", "44100", "-c", "2", str(path), "synth", "1", "sine", "440"],
            check=True,
            capture_output=True,
        )
        audio.append(path)
    for i in range(count):
        if i % 3 == 2:
            source = audio[i % len(audio)]
            shutil.copyfile(source, root / f"track-{i}{source.suffix}")
            continue
        image = Image.frombytes("RGB", (96, 96), rng.randbytes(96 * 96 * 3))
        image.save(root / (f"cover-{i}.png" if i % 3 == 0 else f"cover-{i}.jpg"), quality=85)
    for path in audio:
        path.unlink()
    return root


def copy_only(root: Path) -> int:
    n = 0
    for path in media_files(root):
        stamp.replace(path, path.read_bytes())
        n += 1
    return n


def timed(source: Path, work: Path, mode: str, credentials: Any) -> tuple[int, float]:
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(source, work)
    if mode == "second run":
        list(stamp.stamp_tree(work, RESERVATION, LABEL, credentials))
    start = time.perf_counter()
    if mode == "copy":
        n = copy_only(work)
    else:
        signer = None if mode == "unsigned" else credentials
        outcomes = list(stamp.stamp_tree(work, RESERVATION, LABEL, signer))
        assert not [o for o in outcomes if o.status == stamp.SKIPPED], "a file was skipped"
        n = len(outcomes)
    return n, time.perf_counter() - start


def run(generated: int = 3000) -> dict[str, Any]:
    pair = make_test_pair(LABEL)
    credentials = manifests.credentials(pair.chain_pem, pair.key_pem)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-media-") as tmp:
        base = Path(tmp)
        sets = {
            "demo media (cover + preview) x200": demo_set(_mkdir(base / "demo")),
            f"{generated} generated files": generated_set(_mkdir(base / "generated"), generated),
        }
        for name, source in sets.items():
            rates = {}
            files = 0
            for mode in ("copy", "unsigned", "signed", "second run"):
                files, seconds = timed(source, base / "work", mode, credentials)
                rates[mode] = files / seconds
            size = sum(p.stat().st_size for p in source.iterdir())
            results[name] = {
                "files": files,
                "mib": round(size / 2**20, 1),
                "files_per_s": {k: round(v, 1) for k, v in rates.items()},
                "vs_copy": {k: round(rates[k] / rates["copy"], 3) for k in rates},
                "signed_vs_unsigned": round(rates["signed"] / rates["unsigned"], 3),
            }
    return results


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    print(json.dumps(run(count), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
