"""`optout evidence`: the records of one crawler (or operator, network, or the flagged
requests), with what a third party needs to check them offline.

The bundle (a zip) holds: the matching records; the chain segment they sit in
(proxy.review.bundle_select says which lines); the chain head when the segment
reaches the log's end; the checkpoints in the segment (they are lines of it),
the RFC 3161 tokens they name and the TSAs' certificate chain; the label's
checkpoint public key; each reservation document and reservation header set the
records name; the summary; a README for a non-engineer; and a manifest with the
SHA-256 of every other file, so an altered byte is named by file.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import IO, Any

from proxy import __version__
from proxy.evidence import signing
from proxy.evidence.chain import HEAD_FILE
from proxy.evidence.checkpoints import ACTION as CHECKPOINT
from proxy.evidence.checkpoints import TOKENS_DIR
from proxy.review.bundle_select import Request, Scan, scan
from proxy.review.files import ReviewError, chains
from proxy.review.summary import summarise
from proxy.store.documents import DocumentStore

__all__ = ["Request", "build", "readme"]

RECORDS, SEGMENT, MANIFEST, SUMMARY, README, HEAD = (
    "records.jsonl", "chain-segment.jsonl", "manifest.json", "summary.json", "README.txt",
    "chain-head.json",
)  # fmt: skip
SERVED = "served/"
HEADERSETS = "headersets/"
TOKENS = TOKENS_DIR + "/"
TSA_CHAIN = "tsa-chain.pem"
PUBLIC_KEY = "checkpoint-key.pem"


def build(
    files: Sequence[Path], want: Request, out: Path, state: Path, tsa_certs: Path | None = None
) -> dict[str, Any]:
    """Write the bundle to `out`; returns its manifest."""
    with tempfile.TemporaryFile() as records, tempfile.TemporaryFile() as segment:
        found = scan(files, want, Scan(records, segment))
        if not found.count:
            raise ReviewError(f"no records of {want.describe()} in the given time window")
        segment.truncate(found.end)
        manifest = _manifest(files, want, found)
        contents: dict[str, bytes] = {}
        summary = summarise(files, want.since, want.until, agent=want.agent).as_json()
        contents[SUMMARY] = (json.dumps(summary, indent=2) + "\n").encode()
        _add_kept(contents, DocumentStore(state), SERVED, found.served, manifest, "missing_served")
        headersets = DocumentStore(state, HEADERSETS.rstrip("/"))
        named = dict.fromkeys(found.headersets, "reservation headers")
        _add_kept(contents, headersets, HEADERSETS, named, manifest, "missing_headersets")
        segment.seek(0)
        _add_proof(contents, segment, state, tsa_certs, manifest)
        _add_head(contents, files, state, found, manifest)
        contents[README] = readme().encode()
        hashes = {n: hashlib.sha256(d).hexdigest() for n, d in contents.items()}
        # Level 1: the chain segment can be the whole log (hundreds of MB), which level 6
        # took four times as long to compress, for a bundle a fifth smaller.
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as bundle:
            for name, tmp in ((RECORDS, records), (SEGMENT, segment)):
                hashes[name] = _stream(bundle, name, tmp)
            for name, data in contents.items():
                bundle.writestr(name, data)
            manifest["files"] = dict(sorted(hashes.items()))
            bundle.writestr(MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return manifest


def _stream(bundle: zipfile.ZipFile, name: str, tmp: IO[bytes]) -> str:
    """Copy a temporary file into the bundle; its SHA-256."""
    tmp.seek(0)
    sha = hashlib.sha256()
    with bundle.open(name, "w") as target:
        while chunk := tmp.read(1 << 20):
            sha.update(chunk)
            target.write(chunk)
    return sha.hexdigest()


def _manifest(files: Sequence[Path], want: Request, found: Scan) -> dict[str, Any]:
    return {
        "tool": f"optout-proxy {__version__}",
        "created": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "agent": want.agent,
        "selection": {
            k: v
            for k, v in (
                ("agent", want.agent),
                ("operator", want.operator),
                ("ip", want.ip),
                ("flagged", want.flagged or None),
            )
            if v is not None
        },
        "since": want.since,
        "until": want.until,
        "records": found.count,
        "record_sequences": [min(found.sequences), max(found.sequences)],
        "chain_alg": found.alg,
        "segment_sources": [
            {"file": name, "first_line": a, "last_line": b} for name, (a, b) in found.kept.items()
        ],
        "segment_reaches_log_end": found.at_end,
        "segment_ends_at_checkpoint": found.sealed,
        "log_files": [f.name for f in files],
        "served": {},
        "missing_served": {},
        "headersets": {},
        "missing_headersets": {},
        "timestamps": [],
        "missing_timestamps": {},
        "chain_head": None,
    }


def _add_kept(
    contents: dict[str, bytes],
    store: DocumentStore,
    prefix: str,
    named: dict[str, str],
    manifest: dict[str, Any],
    missing: str,
) -> None:
    listed = manifest["served" if prefix == SERVED else "headersets"]
    for sha, kind in sorted(named.items()):
        try:
            contents[prefix + sha] = store.get(sha)
            listed[sha] = kind
        except (KeyError, ValueError) as e:
            manifest[missing][sha] = f"{kind}: {e}"


def _add_proof(
    contents: dict[str, bytes],
    segment: IO[bytes],
    state: Path,
    tsa_certs: Path | None,
    manifest: dict[str, Any],
) -> None:
    """The tokens the segment's checkpoints name, the TSA chain and the public key."""
    tokens = DocumentStore(state, TOKENS_DIR)
    for line in _lines_with(segment, b'"action":"' + CHECKPOINT.encode() + b'"'):
        point = (json.loads(line).get("optout") or {}).get("checkpoint") or {}
        for stamp in point.get("timestamps") or []:
            sha = str(stamp.get("token_sha256"))
            try:
                contents[TOKENS + sha] = tokens.get(sha)
                manifest["timestamps"].append(sha)
            except (KeyError, ValueError) as e:
                manifest["missing_timestamps"][sha] = str(e)
    if tsa_certs is not None:
        contents[TSA_CHAIN] = tsa_certs.read_bytes()
    public = signing.paths(state)[1]
    if public.is_file():
        contents[PUBLIC_KEY] = public.read_bytes()


def _lines_with(source: IO[bytes], needle: bytes) -> Iterator[bytes]:
    """The lines of `source` that hold `needle`, read a megabyte at a time."""
    rest = b""
    while block := source.read(1 << 20):
        whole, _, rest = (rest + block).rpartition(b"\n")
        if needle in whole:
            yield from (line for line in whole.split(b"\n") if needle in line)
    if needle in rest:
        yield rest


def _add_head(
    contents: dict[str, bytes],
    files: Sequence[Path],
    state: Path,
    found: Scan,
    manifest: dict[str, Any],
) -> None:
    """The chain head pins the segment's last line when nothing in the log follows it."""
    own = chains(files)  # a worker's log (`--workers N`) has a chain head of its own
    head = own[0].head(state) if len(own) == 1 else state / HEAD_FILE
    if found.at_end and head.is_file():
        contents[HEAD] = head.read_bytes()
        manifest["chain_head"] = HEAD


def readme() -> str:
    return resources.files("proxy.review").joinpath("bundle-readme.txt").read_text("utf-8")
