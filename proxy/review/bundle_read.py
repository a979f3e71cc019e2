"""Read an evidence bundle by content: a zip as written, a zip re-made with `zip -r`, or the
unpacked directory itself.

Names are what matter, not how the archive was made: directory entries are
skipped, and when every file sits under one top folder (`zip -r b.zip bundle/`
keeps it) that folder is taken off. Then the manifest's SHA-256 of each file
names any file whose bytes changed, was removed, or is not the bundle's.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

from proxy.review.files import ReviewError

MANIFEST = "manifest.json"
_JUNK = ("__MACOSX/", ".DS_Store")
_MAX_FILE = 1 << 31


def read_bundle(path: Path) -> dict[str, bytes]:
    """Every file of the bundle by its name inside it; ReviewError if unreadable."""
    try:
        raw = _directory(path) if path.is_dir() else _zip(path)
    except (OSError, zipfile.BadZipFile, ValueError) as e:
        raise ReviewError(f"cannot read the bundle {path}: {e}") from None
    return _strip_top(raw)


def _zip(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as bundle:
        return {
            info.filename: bundle.read(info)
            for info in bundle.infolist()
            if not info.is_dir() and not info.filename.startswith(_JUNK)
        }


def _directory(path: Path) -> dict[str, bytes]:
    return {
        p.relative_to(path).as_posix(): p.read_bytes()
        for p in sorted(path.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def _strip_top(files: dict[str, bytes]) -> dict[str, bytes]:
    if MANIFEST in files:
        return files
    tops = {name.split("/", 1)[0] for name in files}
    if len(tops) == 1 and all("/" in name for name in files):
        top = tops.pop() + "/"
        return {name[len(top) :]: data for name, data in files.items()}
    return files


def altered(files: dict[str, bytes], listed: object) -> list[str]:
    """One problem per file that differs from the manifest's list."""
    if not isinstance(listed, dict):
        return [f"{MANIFEST} lists no file hashes: it is not a bundle of this version"]
    problems = []
    for name, sha in sorted(listed.items()):
        data = files.get(str(name))
        if data is None:
            problems.append(f"{name} is missing from the bundle")
        elif hashlib.sha256(data).hexdigest() != sha:
            problems.append(f"{name} was altered: its SHA-256 is not the one in {MANIFEST}")
    for name in sorted(set(files) - set(listed) - {MANIFEST}):
        problems.append(f"{name} was added: it is not in {MANIFEST}")
    return problems
