"""The documents the proxy served, kept once each by content hash.

A log record of a robots.txt, tdmrep.json or ai.txt response carries the
SHA-256 of the body served (`optout.served`); the body itself is kept in
`<state>/served/<sha256>`, so evidence can show the file exactly as a crawler
was shown it at that moment, even after the rules change. Bodies repeat for
months, so the hot path is one hash and a set lookup; a body is written once,
atomically. Failing to keep a copy never fails the request: the hash in the
record still identifies the document, and the failure goes to the operational log.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

_DIGEST = re.compile(r"[0-9a-f]{64}")


class DocumentStore:
    def __init__(self, state_dir: Path, subdir: str = "served") -> None:
        # Other content kept by hash the same way: "timestamps" (RFC 3161 tokens),
        # "headersets" (the reservation headers a response carried).
        self.directory = state_dir / subdir
        self._known: set[str] = set()
        self._reported: set[str] = set()
        try:
            self._known.update(
                p.name for p in self.directory.iterdir() if _DIGEST.fullmatch(p.name)
            )
        except OSError:  # not there yet, or unusable: put() will say so
            pass

    def put(self, body: bytes, kind: str) -> str:
        """Keep `body` (a `kind` document, e.g. 'robots.txt') if new; its SHA-256 in hex."""
        digest = hashlib.sha256(body).hexdigest()
        if digest not in self._known:
            try:
                self._write(digest, body)
            except OSError as e:
                if digest not in self._reported:
                    self._reported.add(digest)
                    log.warning("cannot keep the served %s %s: %s", kind, digest, e)
                return digest
            self._known.add(digest)
        return digest

    def get(self, digest: str) -> bytes:
        """The body with this digest; KeyError if not kept, ValueError if it was altered."""
        if not _DIGEST.fullmatch(digest):
            raise KeyError(f"not a SHA-256 digest: {digest!r}")
        try:
            body = (self.directory / digest).read_bytes()
        except FileNotFoundError:
            raise KeyError(f"no served document {digest} in {self.directory}") from None
        if hashlib.sha256(body).hexdigest() != digest:
            raise ValueError(f"{self.directory / digest} was altered: its content hash differs")
        return body

    def _write(self, digest: str, body: bytes) -> None:
        path = self.directory / digest
        if path.exists():
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(body)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
