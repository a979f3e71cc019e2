"""Bundles by operator, network and flag; segments that end at a checkpoint; signatures
checked with the bundle's key; re-zipped and unpacked bundles verifying by content."""

from __future__ import annotations

import hashlib
import json
import subprocess
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from loggen import LogBuilder, at, scenario

from proxy.evidence import checkpoints, signing
from proxy.evidence.chain import Head
from proxy.review import bundle_verify
from proxy.review.bundle_read import read_bundle
from proxy.review.evidence import MANIFEST, RECORDS, SEGMENT, Request, build
from proxy.review.files import ReviewError, resolve
from proxy.store.keys import save_private_key


def _checkpoint(b: LogBuilder, key: Ed25519PrivateKey | None, minutes: float) -> None:
    head = Head(b.chain.sequence, b.chain.prev)
    signature = signing.sign(key, checkpoints.statement(head)) if key else None
    b._write(checkpoints.record(head, [], [], signature, 0.0), minutes)


def _signed(tmp_path: Path) -> tuple[LogBuilder, Ed25519PrivateKey]:
    """GPTBot, a checkpoint, more GPTBot, a browser, a checkpoint, a browser."""
    b = LogBuilder(tmp_path)
    key = Ed25519PrivateKey.generate()
    b.state.mkdir(parents=True)
    save_private_key(key, signing.paths(b.state)[0])
    signing.paths(b.state)[1].write_bytes(signing.public_pem(key.public_key()))
    b.request(0, "GPTBot", "/a", ip="20.171.206.7")
    _checkpoint(b, key, 1)
    b.request(2, "GPTBot", "/b", ip="20.171.206.9")
    b.request(3, None, "/c", ip="198.51.100.1")
    _checkpoint(b, key, 4)
    b.request(5, None, "/d", ip="198.51.100.1")
    b.write()
    return b, key


def test_the_segment_runs_to_the_first_checkpoint_after_the_last_match(tmp_path: Path) -> None:
    b, _ = _signed(tmp_path)
    out = tmp_path / "b.zip"
    manifest = build(resolve([str(b.log)]), Request("GPTBot"), out, b.state)
    assert manifest["segment_ends_at_checkpoint"] is True
    with zipfile.ZipFile(out) as z:
        assert z.read(SEGMENT).splitlines() == b.lines[:5]
    outcome = bundle_verify.verify(out, None)
    assert outcome.ok, outcome.problems
    assert "2 checkpoint signature(s) and 0 RFC 3161 timestamp(s) verified" in outcome.facts
    assert "no timestamp covers these records" in outcome.statement
    assert "from addresses 20.171.206.7, 20.171.206.9 made 2 request(s)" in outcome.statement


def test_a_signature_made_with_another_key_or_over_another_head_fails(tmp_path: Path) -> None:
    b, _ = _signed(tmp_path)
    out = tmp_path / "b.zip"
    build(resolve([str(b.log)]), Request("GPTBot"), out, b.state)
    files = read_bundle(out)
    other = signing.public_pem(Ed25519PrivateKey.generate().public_key())
    files["checkpoint-key.pem"] = other
    manifest = json.loads(files[MANIFEST])
    manifest["files"]["checkpoint-key.pem"] = hashlib.sha256(other).hexdigest()
    files[MANIFEST] = json.dumps(manifest).encode()
    swapped = tmp_path / "swapped.zip"
    with zipfile.ZipFile(swapped, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    outcome = bundle_verify.verify(swapped, None)
    assert not outcome.ok
    assert any("signed with another key" in p for p in outcome.problems), outcome.problems


@pytest.mark.parametrize(
    ("want", "count"),
    [
        (Request(operator="OpenAI"), 6),
        (Request(ip="20.171.206.0/24"), 6),
        (Request(ip="3.3.3.3"), 2),
    ],
)
def test_selection_by_operator_and_network(
    built: LogBuilder, tmp_path: Path, want: Request, count: int
) -> None:
    out = tmp_path / "b.zip"
    manifest = build(resolve([str(built.log)]), want, out, built.state)
    assert manifest["records"] == count
    assert bundle_verify.verify(out, None).ok


def test_flagged_requests_and_bad_selections(tmp_path: Path) -> None:
    b = LogBuilder(tmp_path)
    b.request(0, "GPTBot", "/a")
    trap = {"@timestamp": at(1), "event": {"kind": "event", "action": "block"},
            "source": {"ip": "192.0.2.7"}, "optout": {"flagged": ["trap"]}}  # fmt: skip
    b._write(trap, 1)
    b.request(2, None, "/b")
    b.write()
    out = tmp_path / "f.zip"
    assert build(resolve([str(b.log)]), Request(flagged=True), out, b.state)["records"] == 1
    assert bundle_verify.verify(out, None).ok
    with pytest.raises(ReviewError, match="no records of operator 'Nobody'"):
        build(resolve([str(b.log)]), Request(operator="Nobody"), out, b.state)
    with pytest.raises(ReviewError, match="exactly one of"):
        build(resolve([str(b.log)]), Request("GPTBot", operator="OpenAI"), out, b.state)
    with pytest.raises(ReviewError, match="not an address or a network"):
        build(resolve([str(b.log)]), Request(ip="999.1.1.1"), out, b.state)


def test_rezipped_with_a_folder_or_unpacked_still_verifies(
    built: LogBuilder, tmp_path: Path
) -> None:
    out = tmp_path / "b.zip"
    build(resolve([str(built.log)]), Request("GPTBot", since=at(0)), out, built.state)
    folder = tmp_path / "unpacked" / "evidence"
    with zipfile.ZipFile(out) as z:
        z.extractall(folder)
    subprocess.run(["zip", "-qr", "again.zip", "evidence"], cwd=folder.parent, check=True)
    assert bundle_verify.verify(folder.parent / "again.zip", None).ok
    assert bundle_verify.verify(folder, None).ok
    (folder / RECORDS).write_bytes((folder / RECORDS).read_bytes().replace(b"/a/1", b"/a/7"))
    problems = bundle_verify.verify(folder, None).problems
    assert f"{RECORDS} was altered: its SHA-256 is not the one in {MANIFEST}" in problems
    (folder / "extra.txt").write_text("hi")
    assert (
        "extra.txt was added: it is not in manifest.json"
        in bundle_verify.verify(folder, None).problems
    )


def test_scenario_statement_names_robots_versions(built: LogBuilder, tmp_path: Path) -> None:
    out = tmp_path / "b.zip"
    build(resolve([str(built.log)]), Request("GPTBot"), out, built.state)
    statement = bundle_verify.verify(out, None).statement
    assert "(the log's own times: no timestamp covers these records)" in statement
    assert "agent GPTBot from addresses 20.171.206.7, 20.171.206.8 made 6 request(s)." in statement
    assert "The responses carried the reservation signals content-usage," in statement
    # v1 disallows /a/, v2 disallows /b/: each names what it forbade of what GPTBot fetched.
    lines = [line for line in statement.splitlines() if line.startswith("robots.txt")]
    assert sorted(line.rsplit(" disallowed ", 1)[1] for line in lines) == [
        "the paths /a/1, /a/2.",
        "the paths /b/1, /b/2.",
    ]


def test_scenario_helper_is_unchanged(tmp_path: Path) -> None:
    assert len(scenario(tmp_path).lines) == 14


def test_gap_wrong_digest_and_missing_key_or_token(tmp_path: Path) -> None:
    b = LogBuilder(tmp_path)
    key = Ed25519PrivateKey.generate()
    b.request(0, "GPTBot", "/a")
    head = Head(b.chain.sequence, b.chain.prev)
    failure = checkpoints.Failure("http://tsa.test/", "timed out", 3)
    stamp = checkpoints.Stamp("http://tsa.test/", "ab" * 32, at_time(), 7)
    b._write(checkpoints.record(head, [], [failure], None, 0.0), 1)  # a gap
    b.request(2, "GPTBot", "/b")
    later = Head(b.chain.sequence, b.chain.prev)
    b._write(checkpoints.record(Head(1, "c" * 64), [], [], None, 0.0), 3)  # wrong digest
    signed = checkpoints.record(later, [stamp], [], signing.sign(key, b"x"), 0.0)
    b._write(signed, 4)  # signed, but no public key in the state; its token was not kept
    b.write()
    out = tmp_path / "b.zip"
    manifest = build(resolve([str(b.log)]), Request("GPTBot"), out, b.state)
    assert list(manifest["missing_timestamps"]) == ["ab" * 32]
    outcome = bundle_verify.verify(out, None)
    assert any(
        "(record 1) has no trusted time" in f and "not tampering" in f for f in outcome.facts
    )
    assert any("names record 1 with another digest" in p for p in outcome.problems)
    assert any("is signed but the bundle has no checkpoint-key.pem" in p for p in outcome.problems)
    assert not any("token" in p for p in outcome.problems)  # listed as not kept, not missing


def at_time() -> datetime:
    return datetime(2026, 12, 3, tzinfo=UTC)
