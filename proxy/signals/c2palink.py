"""The C2PA `Link` header: where a media file's sidecar manifest is (`media_manifests: on`).

C2PA 2.1 (§11.4, external manifests) names the sidecar after its asset with
the extension `.c2pa`, and a server points to it with `Link: <URL>;
rel="c2pa-manifest"`. Which media have one is what `optout media stamp
--sidecars --index rules/media-manifests.txt` wrote: the proxy cannot see the
origin's files, and a Link to a missing sidecar would be a false statement.
"""

from __future__ import annotations

from pathlib import Path

from proxy.errors import Problem

INDEX_FILE = "media-manifests.txt"
MAX_PATHS = 1_000_000


def load_index(path: Path, problems: list[Problem]) -> frozenset[str]:
    """URL paths (one a line, `#` comments) of the media that have a sidecar."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.append(
            Problem(
                str(path),
                None,
                "media_manifests is on but this index is missing; "
                "`optout media stamp DIR --sidecars --index` writes it",
            )
        )
        return frozenset()
    except (OSError, UnicodeDecodeError) as e:
        problems.append(Problem(str(path), None, f"cannot read it: {e}"))
        return frozenset()
    found = set()
    for number, line in enumerate(text.splitlines(), 1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        if (
            not entry.startswith("/")
            or any(c in entry for c in ' ?"<>\\')
            or any(ord(c) < 0x21 or ord(c) == 0x7F for c in entry)
        ):
            problems.append(
                Problem(str(path), number, f"{entry!r} is not a URL path like /media/a.mp3")
            )
            continue
        found.add(entry)
    if len(found) > MAX_PATHS:
        problems.append(Problem(str(path), None, f"over {MAX_PATHS} paths"))
        return frozenset()
    return frozenset(found)


def link_value(path: str) -> str:
    """The Link value for the media at `path` (listed in the index)."""
    directory, _, name = path.rpartition("/")
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return f'<{directory}/{stem}.c2pa>; rel="c2pa-manifest"'
