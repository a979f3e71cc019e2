"""The served documents, kept once each under their SHA-256."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from proxy.store.documents import DocumentStore

ROBOTS = b"User-agent: GPTBot\nDisallow: /\n"


def test_a_document_is_kept_once_under_its_hash(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path)
    digest = store.put(ROBOTS, "robots.txt")
    assert digest == hashlib.sha256(ROBOTS).hexdigest()
    kept = tmp_path / "served" / digest
    assert kept.read_bytes() == ROBOTS
    mtime = kept.stat().st_mtime_ns
    assert store.put(ROBOTS, "robots.txt") == digest
    assert kept.stat().st_mtime_ns == mtime
    assert [p.name for p in (tmp_path / "served").iterdir()] == [digest]
    assert store.get(digest) == ROBOTS


def test_a_new_store_knows_what_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    digest = DocumentStore(tmp_path).put(ROBOTS, "robots.txt")
    store = DocumentStore(tmp_path)

    def no_write(digest: str, body: bytes) -> None:
        raise AssertionError("a known document is not written again")

    monkeypatch.setattr(store, "_write", no_write)
    assert store.put(ROBOTS, "robots.txt") == digest


def test_get_refuses_unknown_malformed_and_altered_documents(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path)
    digest = store.put(b"[]", "tdmrep.json")
    with pytest.raises(KeyError, match="no served document"):
        store.get("0" * 64)
    with pytest.raises(KeyError, match="not a SHA-256 digest"):
        store.get("../../etc/passwd")
    (tmp_path / "served" / digest).write_bytes(b"[{}]")
    with pytest.raises(ValueError, match="was altered"):
        store.get(digest)


def test_a_store_that_cannot_write_still_gives_the_hash(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "served").write_bytes(b"")  # a file where the directory should be
    store = DocumentStore(tmp_path)
    assert store.put(ROBOTS, "robots.txt") == hashlib.sha256(ROBOTS).hexdigest()
    assert store.put(ROBOTS, "robots.txt") == hashlib.sha256(ROBOTS).hexdigest()
    err = caplog.text  # the operational log (tests/cli/test_operational_messages.py)
    assert err.count("cannot keep the served robots.txt") == 1
