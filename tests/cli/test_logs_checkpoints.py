"""`optout logs verify` on checkpoints: a timestamp gap is reported as a gap, not as tampering;
the count of intact records before a changed one is exact."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_logs import optout, rewrite

from proxy.evidence import checkpoints, signing
from proxy.evidence.chain import Head
from proxy.store.keys import load_private_key
from proxy.store.logwriter import LogWriter


def _log(tmp_path: Path, count: int, gap_at: int | None = None) -> Path:
    target = tmp_path / "access.jsonl"
    writer = LogWriter(str(target), state_dir=tmp_path / "state")
    for n in range(count):
        writer.write({"event": {"kind": "event"}, "n": n})
        if n + 1 == gap_at:
            head = writer.current_head()
            failure = checkpoints.Failure("http://tsa.test/", "HTTP Error 503", 3)
            writer.write(checkpoints.record(head, [], [failure], None, 0.0))
    writer.close()
    return target


@pytest.mark.parametrize(("changed", "intact"), [(10, 9), (2, 1), (20, None)])
def test_the_records_before_a_changed_one_are_counted_exactly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], changed: int, intact: int | None
) -> None:
    target = _log(tmp_path, 20)
    rewrite(target, changed)
    state = ["--state", str(tmp_path / "state")]
    assert optout(["logs", "verify", "--log", str(target), *state]) == 1
    out = capsys.readouterr().out
    assert f"record {changed} (access.jsonl:{changed})" in out
    if intact is None:  # the last record: the chain head exposes it
        assert f"the {changed - 1} records before it are intact" in out
    else:
        assert f"the {intact} records before it are intact" in out
    assert f"the {changed} records before it" not in out


def test_a_checkpoint_without_trusted_time_is_a_gap_not_tampering(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = _log(tmp_path, 6, gap_at=3)
    assert optout(["logs", "verify", "--log", str(target), "--state", str(tmp_path / "state")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK: records 1 to 7 ")
    assert "checkpoints: 1 (0 timestamped by a TSA, 0 signed)" in out
    assert "timestamp gap: the checkpoint of record 3 (access.jsonl:4) has no trusted time" in out
    assert "http://tsa.test/: HTTP Error 503" in out


def test_no_checkpoint_line_without_checkpoints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = _log(tmp_path, 3)
    assert optout(["logs", "verify", "--log", str(target)]) == 0
    assert "checkpoints:" not in capsys.readouterr().out


def test_head_type_is_what_checkpoints_name() -> None:
    assert checkpoints.head_of({"sequence": 3, "digest": "0" * 64, "alg": "sha256"}) == Head(
        3, "0" * 64
    )
    with pytest.raises(ValueError, match="not a checkpoint"):
        checkpoints.head_of({"digest": "x"})


def test_keygen_writes_a_key_pair_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state"
    assert optout(["logs", "keygen", "--state", str(state)]) == 0
    private, public = signing.paths(state)
    assert private.stat().st_mode & 0o777 == 0o600
    key = load_private_key(private)
    assert signing.load_public(public.read_bytes()).public_bytes_raw() == (
        key.public_key().public_bytes_raw()
    )
    assert f"key id (SHA-256 of the public key): {signing.key_id(key.public_key())}" in (
        capsys.readouterr().out
    )
    before = private.read_bytes()
    assert optout(["logs", "keygen", "--state", str(state)]) == 2
    assert "exists: move it away first" in capsys.readouterr().err
    assert private.read_bytes() == before


def test_a_signature_names_what_is_wrong() -> None:
    key = Ed25519PrivateKey.generate()
    statement = checkpoints.statement(Head(4, "a" * 64))
    signature = signing.sign(key, statement)
    assert signing.verify(key.public_key(), statement, signature) is None
    other = Ed25519PrivateKey.generate().public_key()
    assert "another key" in str(signing.verify(other, statement, signature))
    altered = checkpoints.statement(Head(5, "a" * 64))
    assert "does not verify" in str(signing.verify(key.public_key(), altered, signature))
    assert "not an Ed25519" in str(signing.verify(key.public_key(), statement, {"alg": "rsa"}))
    with pytest.raises(ValueError, match="not a PEM public key"):
        signing.load_public(b"junk")
