"""The logs of `optout run --workers N` read as one log: chain by chain, merged by time.

Worker i writes `DIR/access-<i>.jsonl` (rotated as usual) and keeps its chain head in
`STATE/chain-head-<i>.json`; the sets here are written by two real LogWriters, rotated
and gzipped, and every command is given only `--log DIR/access.jsonl`.
"""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from proxy.cli.main import main as run_cli
from proxy.evidence.chain import head_file, worker_log
from proxy.evidence.logfiles import iter_records, log_files, worker_logs, worker_of
from proxy.review.files import chains, resolve
from proxy.store.logwriter import LogWriter

T0 = 1_795_651_200.0 + 3600  # 2026-11-26T01:00:00Z
AGENTS = {1: "GPTBot", 2: "ClaudeBot"}


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def _record(n: int, worker: int) -> dict[str, Any]:
    when = datetime.fromtimestamp(T0 + n, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"
    agent = AGENTS[worker] if n % 3 else None
    return {
        "@timestamp": when,
        "event": {"kind": "event", "action": "block" if agent else "allow"},
        "source": {"ip": f"203.0.113.{worker}"},
        "url": {"domain": "label.example", "path": f"/w{worker}/{n}"},
        "http": {"request": {"method": "GET"}, "response": {"status_code": 200}},
        "optout": {"agent": agent, "identity": "claimed" if agent else "none"},
    }


@pytest.fixture
def logset(tmp_path: Path) -> tuple[Path, Path]:
    """Worker 1 writes the even seconds, worker 2 the odd ones; 40 records each,
    rotated by size into several gzipped files."""
    log, state = tmp_path / "logs" / "access.jsonl", tmp_path / "state"
    log.parent.mkdir()
    clock = Clock()
    writers = {
        i: LogWriter(
            str(worker_log(log, i)),
            state_dir=state,
            head_file=head_file(i),
            worker=i,
            max_bytes=2000,
            clock=clock,
        )
        for i in (1, 2)
    }
    for n in range(80):
        clock.now = T0 + n
        writer = writers[1 + n % 2]
        writer.write(_record(n, 1 + n % 2))
        writer.flush()
    for writer in writers.values():
        writer.close()
    for i in (1, 2):
        assert len(log_files(worker_log(log, i))) > 2, "the fixture must rotate"
    assert not log.exists()
    return log, state


def test_verify_checks_each_workers_chain_against_its_own_head(
    logset: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    log, state = logset
    assert run_cli(["logs", "verify", "--log", str(log), "--state", str(state)]) == 0
    out, err = capsys.readouterr()
    assert "chain access-1.jsonl (worker 1):\n  OK: records 1 to 40 (40 records" in out
    assert "chain access-2.jsonl (worker 2):\n  OK: records 1 to 40 (40 records" in out
    assert "OK: all 2 chains are intact" in out
    assert "of 2 chains: access-1.jsonl (" in err


def test_verify_names_a_changed_record_in_the_second_chain(
    logset: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    log, state = logset
    current = worker_log(log, 2)
    lines = current.read_bytes().splitlines(keepends=True)
    assert len(lines) >= 3
    victim = json.loads(lines[1])
    lines[1] = lines[1].replace(b'"/w2/', b'"/wX/')
    current.write_bytes(b"".join(lines))
    assert run_cli(["logs", "verify", "--log", str(log), "--state", str(state)]) == 1
    out = capsys.readouterr().out
    chain1, chain2 = out.split("chain access-2.jsonl (worker 2):")
    assert "OK: records 1 to 40" in chain1
    sequence = victim["event"]["sequence"]
    assert (
        f"CHAIN BROKEN at {current}:2: record {sequence} (access-2.jsonl:2) was changed" in chain2
    )
    assert "NOT OK: 1 of 2 chains: access-2.jsonl" in out


def test_records_removed_from_the_end_of_one_chain_are_found_by_its_head(
    logset: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    log, state = logset
    current = worker_log(log, 1)
    lines = current.read_bytes().splitlines(keepends=True)
    current.write_bytes(b"".join(lines[:-1]))
    assert run_cli(["logs", "verify", "--log", str(log), "--state", str(state)]) == 1
    out = capsys.readouterr().out
    assert "ends at record 39 but the chain head says 40" in out.split("chain access-2")[0]


def test_a_missing_head_of_one_worker_is_named(
    logset: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    log, state = logset
    (state / head_file(2)).unlink()
    assert run_cli(["logs", "verify", "--log", str(log), "--state", str(state)]) == 2
    assert f"no chain head in {state} (chain-head-2.json)" in capsys.readouterr().err


def test_summary_counts_both_workers(
    logset: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    log, _ = logset
    assert run_cli(["logs", "summary", "--log", str(log), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    rows = {r["name"]: r["requests"] for r in result["rows"]}
    written = [r for i in (1, 2) for r in iter_records(log_files(worker_log(log, i)))]
    assert result["totals"]["requests"] == len(written) == 80
    expected = {"GPTBot": 26, "ClaudeBot": 27, "(no agent)": 27}
    assert rows == expected
    assert sum(expected.values()) == 80


def test_search_merges_the_workers_by_time(
    logset: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    log, _ = logset
    assert run_cli(["logs", "search", "--log", str(log), "--json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(records) == 80
    times = [r["@timestamp"] for r in records]
    assert times == sorted(times)
    assert {r["optout"]["worker"] for r in records} == {1, 2}


def test_report_states_each_chains_verdict(logset: tuple[Path, Path], tmp_path: Path) -> None:
    log, state = logset
    out = tmp_path / "report.html"
    rules = Path(__file__).resolve().parents[2] / "rules"
    argv = ["logs", "report", "--log", str(log), "--state", str(state), "--rules", str(rules)]
    assert run_cli([*argv, "--out", str(out)]) == 0
    page = out.read_text()
    assert "Chain access-1.jsonl: Hash chain verified: records 1 to 40" in page
    assert "Chain access-2.jsonl: Hash chain verified: records 1 to 40" in page
    assert 'id="tile-requests"><div class="value">80</div>' in page


def test_evidence_is_one_bundle_per_chain(
    logset: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log, state = logset
    bundle = tmp_path / "bundle.zip"
    base = ["evidence", "--agent", "ClaudeBot", "--state", str(state), "--out", str(bundle)]
    assert run_cli([*base, "--log", str(log)]) == 2
    err = capsys.readouterr().err
    assert "these files are 2 chains" in err
    assert str(worker_log(log, 1)) in err
    assert str(worker_log(log, 2)) in err
    assert not bundle.exists()
    # Worker 2's log alone: its own chain head pins the segment's end.
    assert run_cli([*base, str(worker_log(log, 2))]) == 0
    capsys.readouterr()
    assert run_cli(["evidence", "verify", str(bundle)]) == 0
    out = capsys.readouterr().out
    assert "OK: the bundle is consistent" in out
    with zipfile.ZipFile(bundle) as z:
        assert z.read("chain-head.json") == (state / head_file(2)).read_bytes()


@pytest.mark.parametrize(
    ("name", "worker"),
    [
        ("access-1.jsonl", 1),
        ("access-12.jsonl", 12),
        ("access.jsonl", None),
        ("access-01.jsonl", None),  # not a name the supervisor writes
        ("access-x.jsonl", None),
        ("-3.jsonl", None),
        ("access-².jsonl", None),
    ],
)
def test_which_names_are_a_workers_log(name: str, worker: int | None) -> None:
    assert worker_of(name) == worker


def test_only_the_workers_of_the_log_given_are_read(tmp_path: Path) -> None:
    log = tmp_path / "access.jsonl"
    for name in (
        "access-1.jsonl",
        "access-2.jsonl.2026-11-26T00-00-00Z.1.gz",  # only rotated files left
        "access-01.jsonl",
        "other-3.jsonl",
        "access-4.log",
        "access.jsonl.2026-11-26T00-00-00Z.1.gz",
    ):
        (tmp_path / name).write_bytes(b"")
    assert worker_logs(log) == [(1, tmp_path / "access-1.jsonl"), (2, tmp_path / "access-2.jsonl")]
    found = chains(resolve([str(log)]))
    assert [(c.name, c.worker, len(c.files)) for c in found] == [
        ("access.jsonl", None, 1),
        ("access-1.jsonl", 1, 1),
        ("access-2.jsonl", 2, 1),
    ]


def test_a_log_merely_named_like_a_worker_keeps_the_plain_head(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (chain,) = chains([tmp_path / "access-2026.jsonl"])
    assert chain.worker == 2026
    (state / "chain-head.json").write_text("{}")
    assert chain.head(state) == state / "chain-head.json"
    (state / "chain-head-2026.json").write_text("{}")
    assert chain.head(state) == state / "chain-head-2026.json"
