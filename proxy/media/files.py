"""Which files are media, and the URL path each is served at.

The path is what the proxy resolves the reservation for, so it is spelt in the
proxy's one form of a target: the web root's relative path under the URL
prefix, with spaces, `%`, `?`, `#` and non-ASCII characters percent-encoded in
upper case (as a browser sends them, and as rules are written).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

KINDS = {
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".png": "png",
    ".mp3": "mp3",
    ".wav": "wav",
    ".flac": "flac",
}
CONTENT_TYPES = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "flac": "audio/flac",
}
TEMP_SUFFIX = ".optout-tmp"
_SAFE = "/!$&'()*+,;=:@~"


def kind_of(path: Path) -> str | None:
    return KINDS.get(path.suffix.lower())


def media_files(root: Path) -> Iterator[Path]:
    """Media files under `root`, in a stable order; symbolic links are not followed."""
    for directory, subdirs, names in os.walk(root):
        subdirs.sort()
        for name in sorted(names):
            path = Path(directory, name)
            if kind_of(path) is not None and not name.endswith(TEMP_SUFFIX):
                yield path


def url_path(root: Path, file: Path, prefix: str = "/") -> str:
    """The URL path `file` under `root` is served at, when `root` is served at `prefix`."""
    if not prefix.startswith("/"):
        raise ValueError(f"URL prefix {prefix!r} must start with /")
    try:
        relative = file.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        relative = file.name
    return prefix.rstrip("/") + "/" + quote(relative, safe=_SAFE)


def parse_prefix(text: str) -> str:
    if not text.startswith("/") or any(c in text for c in "?#\\ ") or "//" in text:
        raise ValueError(f"URL prefix {text!r} must be an absolute path like /media/")
    return text
