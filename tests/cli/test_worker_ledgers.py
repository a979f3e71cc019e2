"""`optout charges summary` reads every worker's ledger (`--workers`: ledger-<i>.jsonl)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proxy.cli.main import main
from proxy.evidence.chain import head_file, worker_log, worker_sets
from proxy.evidence.ledger import ledger_dir
from proxy.store.logwriter import LogWriter


def charge(agent: str, amount: str) -> dict[str, object]:
    return {
        "@timestamp": "2026-12-04T10:00:00.000Z",
        "event": {"kind": "event", "category": ["web"], "action": "charge"},
        "optout": {"agent": agent, "price": {"currency": "EUR", "amount": amount}},
    }


def test_the_charges_of_every_worker_are_totalled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = ledger_dir(tmp_path)
    for worker, amounts in ((1, ["0.01", "0.02"]), (2, ["0.04"])):
        path = worker_log(directory / "ledger.jsonl", worker)
        writer = LogWriter(
            str(path), state_dir=directory, head_file=head_file(worker), worker=worker
        )
        for amount in amounts:
            writer.write(charge("PerplexityBot", amount))
        writer.close()
    assert sorted(p.name for p in directory.iterdir()) == [
        "chain-head-1.json",
        "chain-head-2.json",
        "ledger-1.jsonl",
        "ledger-2.jsonl",
    ]
    assert main(["charges", "summary", "--state", str(tmp_path), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["agent"], row["requests"], row["amount"]) == ("PerplexityBot", 3, "0.07")


def test_worker_sets_lists_the_file_then_its_workers_in_order(tmp_path: Path) -> None:
    for name in ("access-10.jsonl", "access-2.jsonl", "access-x.jsonl", "access-02.jsonl"):
        (tmp_path / name).write_text("")
    assert [p.name for p in worker_sets(tmp_path / "access.jsonl")] == [
        "access.jsonl",
        "access-2.jsonl",
        "access-10.jsonl",
    ]
