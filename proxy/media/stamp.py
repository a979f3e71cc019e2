"""`optout media stamp`: write the reservation into every media file of a directory.

Per file: read it whole, resolve the terms for the path it is served at, and
leave it alone if it already says them (so a second run changes nothing, byte
for byte: a fresh signature would differ, so a valid manifest of ours that says
the same is kept). Otherwise write the metadata, sign last, read the result
back, and only then replace the file: a temporary file in the same directory,
flushed, then renamed over it. A file that does not parse is reported and left
as it was; so is one whose C2PA manifest an unsigned change would break.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

from proxy.config.reservation import Reservation
from proxy.media import audiotags, images, manifests, xmp
from proxy.media.files import CONTENT_TYPES, TEMP_SUFFIX, kind_of, media_files, url_path
from proxy.media.keys import make_test_pair
from proxy.media.manifests import Credentials
from proxy.media.terms import Terms, terms_for

STAMPED, UNCHANGED, SKIPPED, WOULD = "stamped", "unchanged", "skipped", "would stamp"
# A file is read whole and held about three times over while it is stamped: previews
# and covers are small, masters are not what this is for.
MAX_FILE = 512 << 20


class Outcome(NamedTuple):
    path: Path
    url_path: str
    status: str  # STAMPED, UNCHANGED, SKIPPED or WOULD
    detail: str  # what was written, or why it was skipped


def stamp_tree(
    root: Path,
    reservation: Reservation,
    label: str,
    credentials: Credentials | None,
    prefix: str = "/",
    dry_run: bool = False,
    sidecars: bool = False,
) -> Iterator[Outcome]:
    """Stamp every media file under `root`; with `sidecars`, write each manifest beside it too."""
    files = list(media_files(root))
    shared = _shared_stems(files)
    for path in files:
        sidecar = sidecar_of(path) if sidecars and credentials is not None else None
        if sidecar is not None and path.with_suffix("") in shared:
            sidecar = None  # cover.jpg and cover.png would both claim cover.c2pa
        outcome = stamp_file(
            path, url_path(root, path, prefix), reservation, label, credentials, dry_run, sidecar
        )
        if sidecars and sidecar is None and credentials is not None:
            outcome = outcome._replace(
                detail=outcome.detail + f"; no sidecar: another file shares {path.stem}.c2pa"
            )
        yield outcome


def sidecar_of(path: Path) -> Path:
    """The C2PA sidecar's place: the asset's name with the extension .c2pa (C2PA 2.1 §11.4)."""
    return path.with_suffix(".c2pa")


def sidecar_index(root: Path, prefix: str = "/") -> list[str]:
    """URL paths of the media under `root` with a sidecar of their own (the proxy's index)."""
    files = list(media_files(root))
    shared = _shared_stems(files)
    return sorted(
        url_path(root, p, prefix)
        for p in files
        if p.with_suffix("") not in shared and sidecar_of(p).is_file()
    )


def _shared_stems(files: list[Path]) -> set[Path]:
    seen: dict[Path, int] = {}
    for path in files:
        seen[path.with_suffix("")] = seen.get(path.with_suffix(""), 0) + 1
    return {stem for stem, n in seen.items() if n > 1}


def stamp_file(
    path: Path,
    at: str,
    reservation: Reservation,
    label: str,
    credentials: Credentials | None,
    dry_run: bool = False,
    sidecar: Path | None = None,
) -> Outcome:
    kind = kind_of(path)
    if kind is None:
        return Outcome(path, at, SKIPPED, "not a JPEG, PNG, MP3, WAV or FLAC file")
    if path.is_symlink():
        return Outcome(path, at, SKIPPED, "a symbolic link: stamp the file it points to")
    terms = terms_for(reservation, label, at, CONTENT_TYPES[kind])
    try:
        if path.stat().st_size > MAX_FILE:
            return Outcome(
                path, at, SKIPPED, f"over {MAX_FILE >> 20} MiB: files are stamped in memory"
            )
        data = path.read_bytes()
        missing = sidecar is not None and not sidecar.is_file()
        new, store, detail = stamped(kind, data, terms, credentials, path.name, missing)
    except OSError as e:
        return Outcome(path, at, SKIPPED, f"cannot read it: {e.strerror}")
    except ValueError as e:
        return Outcome(path, at, SKIPPED, str(e))
    if new is None:
        return Outcome(path, at, UNCHANGED, detail)
    if dry_run:
        return Outcome(path, at, WOULD, detail)
    try:
        replace(path, new)
        if sidecar is not None and store is not None:
            replace(sidecar, store, path)
            detail += f", and {sidecar.name}"
    except OSError as e:
        return Outcome(path, at, SKIPPED, f"cannot write it: {e.strerror}")
    return Outcome(path, at, STAMPED, detail)


def stamped(
    kind: str,
    data: bytes,
    terms: Terms,
    credentials: Credentials | None,
    title: str,
    resign: bool = False,
) -> tuple[bytes | None, bytes | None, str]:
    """The file's new bytes (None: it already says `terms`), its new manifest store (None:
    unsigned), and what they say. `resign` signs anew even a file that agrees."""
    said = _says(kind, data, terms)
    manifest = manifests.read(kind, data)
    signed_ok = credentials is None or manifests.agrees(manifest, terms, credentials)
    what = _describe(kind, terms, credentials)
    if said and signed_ok and not (resign and credentials is not None):
        return None, None, what
    new = data
    if not said:
        if credentials is None and manifests.verifies(manifest):
            raise ValueError(
                "it has a valid C2PA manifest that unsigned changes would break; "
                "stamp with --cert and --key to sign a new one"
            )
        new = _write(kind, data, terms)
    store = None
    if credentials is not None:
        new, store = manifests.sign(kind, new, terms, credentials, title)
    if not _says(kind, new, terms) or (
        credentials is not None and not manifests.agrees(manifests.read(kind, new), terms)
    ):
        raise ValueError("the stamped file does not read back as written; left unchanged")
    return new, store, what


def in_memory(reservation: Reservation, label: str) -> Callable[[str, str, bytes], bytes]:
    """A stamper of served bytes, signing with a throwaway test pair (the demo site's)."""
    pair = make_test_pair(label or "optout-proxy demo")
    signer = manifests.credentials(pair.chain_pem, pair.key_pem)

    def stamp_body(path: str, content_type: str, body: bytes) -> bytes:
        kind = next((k for k, t in CONTENT_TYPES.items() if t == content_type), None)
        if kind is None:
            return body
        terms = terms_for(reservation, label, path, content_type)
        new, _, _ = stamped(kind, body, terms, signer, path.rsplit("/", 1)[-1])
        return body if new is None else new

    return stamp_body


def replace(path: Path, data: bytes, like: Path | None = None) -> None:
    """Write `data` to a temporary file beside `path`, then rename it over `path`.

    The file keeps its mode (a new one takes the mode of `like`).
    """
    mode = (path if like is None else like).stat().st_mode & 0o7777
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _says(kind: str, data: bytes, terms: Terms) -> bool:
    if kind in ("jpeg", "png"):
        return xmp.agrees(xmp.read(images.get_xmp(kind, data)), terms)
    return audiotags.agrees(kind, audiotags.read(kind, data), terms, data)


def _write(kind: str, data: bytes, terms: Terms) -> bytes:
    if kind in ("jpeg", "png"):
        return images.put_xmp(kind, data, xmp.write(images.get_xmp(kind, data), terms))
    return audiotags.write(kind, data, terms)


def _describe(kind: str, terms: Terms, credentials: Credentials | None) -> str:
    where = "XMP" if kind in ("jpeg", "png") else ("Vorbis comments" if kind == "flac" else "ID3")
    text = f"reserved={str(terms.reserved).lower()} in {where}"
    if kind in ("jpeg", "png"):
        text += f" (DataMining {terms.data_mining.rsplit('/', 1)[1]})"
    if credentials is not None:
        text += " and a signed C2PA manifest"
    return text
