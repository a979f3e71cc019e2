"""The checkpoint timer against a real local TSA: tokens kept, records chained, gaps recorded."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from localtsa import Authority, LocalTSA, make_authority, openssl_verify
from metricsample import sample

from proxy.engine.checkpointer import Checkpointer
from proxy.evidence import checkpoints, signing
from proxy.evidence.chain import Head
from proxy.evidence.chainverify import verify_lines
from proxy.evidence.logfiles import iter_lines
from proxy.ops.metrics import Metrics
from proxy.store.logwriter import LogWriter


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return make_authority(tmp_path_factory.mktemp("tsa"))


@pytest.fixture
def tsa(authority: Authority) -> Iterator[LocalTSA]:
    server = LocalTSA(authority).start()
    yield server
    server.stop()


def _records(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def _setup(tmp_path: Path, urls: list[str], **kw: object) -> tuple[LogWriter, Checkpointer]:
    writer = LogWriter(str(tmp_path / "access.jsonl"), state_dir=tmp_path / "state")
    key = Ed25519PrivateKey.generate()
    return writer, Checkpointer(
        writer, tmp_path / "state", urls, 3600, Metrics(), key, retry_delay=0.01, **kw
    )


def test_checkpoint_is_timestamped_signed_and_chained(
    tmp_path: Path, tsa: LocalTSA, authority: Authority
) -> None:
    writer, timer = _setup(tmp_path, [tsa.url])
    writer.write({"event": {"action": "allow"}})
    assert timer.checkpoint()
    writer.close()
    log = tmp_path / "access.jsonl"
    first, point = _records(log)
    assert verify_lines(iter_lines([log]), None).ok
    cp = point["optout"]["checkpoint"]  # type: ignore[index]
    assert point["event"]["action"] == "checkpoint"  # type: ignore[index]
    head = Head(1, cp["digest"])
    assert cp["sequence"] == 1
    assert cp["digest"] == hashlib.sha256(log.read_bytes().split(b"\n")[0]).hexdigest()
    stamp = cp["timestamps"][0]
    token = (tmp_path / "state" / "timestamps" / stamp["token_sha256"]).read_bytes()
    assert "Verification: OK" in openssl_verify(authority, token, checkpoints.imprint(head))
    public = timer.signer.public_key()  # type: ignore[union-attr]
    assert signing.verify(public, checkpoints.statement(head), cp["signature"]) is None
    assert "gap" not in cp
    assert first["event"]["sequence"] == 1


def test_tsa_down_leaves_a_gap_then_the_next_round_is_timestamped(
    tmp_path: Path, tsa: LocalTSA
) -> None:
    writer, timer = _setup(tmp_path, [tsa.url])
    tsa.mode = "down"
    writer.write({"event": {"action": "allow"}})
    assert timer.checkpoint()
    tsa.mode = "ok"
    writer.write({"event": {"action": "allow"}})
    assert timer.checkpoint()
    writer.close()
    gap, good = [r["optout"]["checkpoint"] for r in _records(tmp_path / "access.jsonl")[1::2]]  # type: ignore[index]
    assert gap["gap"] is True
    assert gap["failures"][0]["attempts"] == 3
    assert "503" in gap["failures"][0]["error"]
    assert good["timestamps"]
    assert "gap" not in good
    metrics = timer.metrics
    assert (
        sample(metrics, "optout_timestamp_requests_total", tsa="127.0.0.1", result="failure") == 3
    )
    assert sample(metrics, "optout_checkpoints_total", result="gap") == 1
    assert sample(metrics, "optout_checkpoints_total", result="timestamped") == 1


def test_slow_tsa_times_out_into_a_gap(tmp_path: Path, tsa: LocalTSA) -> None:
    writer, timer = _setup(tmp_path, [tsa.url], timeout=0.2, attempts=1)
    tsa.mode = "slow"
    writer.write({"event": {"action": "allow"}})
    assert timer.checkpoint()
    writer.close()
    cp = _records(tmp_path / "access.jsonl")[-1]["optout"]["checkpoint"]  # type: ignore[index]
    assert cp["gap"] is True
    assert "timed out" in cp["failures"][0]["error"]


def test_no_new_records_no_checkpoint_and_shutdown_writes_one(tmp_path: Path) -> None:
    writer, timer = _setup(tmp_path, [])
    assert not timer.checkpoint()  # an empty log
    writer.write({"event": {"action": "allow"}})
    assert timer.checkpoint()
    assert not timer.checkpoint()  # only our own checkpoint since
    writer.write({"event": {"action": "allow"}})
    timer.start()
    timer.stop()
    writer.close()
    actions = [r["event"]["action"] for r in _records(tmp_path / "access.jsonl")]  # type: ignore[index]
    assert actions == ["allow", "checkpoint", "allow", "checkpoint"]
