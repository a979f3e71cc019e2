"""`optout logs verify`: exit codes, the first bad record named, the key never shown."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from proxy.cli.logs import add_parsers
from proxy.store.logwriter import LogWriter

KEY = "a-log-key-of-32-characters-abcde"


def optout(argv: list[str], env: dict[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="optout")
    add_parsers(parser.add_subparsers(required=True))
    args = parser.parse_args(argv)
    return int(args.handler(args, env or {}))


def make_log(tmp_path: Path, count: int = 60, key: bytes | None = None) -> Path:
    target = tmp_path / "logs" / "access.jsonl"
    writer = LogWriter(str(target), state_dir=tmp_path / "state", hmac_key=key, max_bytes=3000)
    for n in range(count):
        writer.write({"event": {"kind": "event"}, "n": n})
        if n % 10 == 9:
            writer.flush()
    writer.close()
    return target


def rewrite(path: Path, k: int) -> None:
    """Change the k-th line of a plain file."""
    lines = path.read_bytes().splitlines()
    record = json.loads(lines[k - 1])
    record["n"] = "changed"
    lines[k - 1] = json.dumps(record, separators=(",", ":")).encode()
    path.write_bytes(b"\n".join(lines) + b"\n")


def test_an_intact_log_and_its_rotated_files_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = make_log(tmp_path)
    assert optout(["logs", "verify", "--log", str(target), "--state", str(tmp_path / "state")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK: records 1 to 60 (60 records in ")
    assert "no --state" not in out


def test_files_given_in_any_order_are_verified_in_chain_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = make_log(tmp_path)
    files = sorted(str(p) for p in target.parent.iterdir())  # as a shell glob gives them
    assert optout(["logs", "verify", *files]) == 0
    assert "note: no --state given" in capsys.readouterr().out


def test_a_changed_record_is_named_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = make_log(tmp_path)
    rewrite(target, 2)
    assert optout(["logs", "verify", "--log", str(target)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"CHAIN BROKEN at {target}:2: record ")
    assert "(access.jsonl:2) was changed" in out


def test_records_cut_off_the_end_are_found_with_the_state_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = make_log(tmp_path)
    target.write_bytes(b"".join(target.read_bytes().splitlines(keepends=True)[:-3]))
    assert optout(["logs", "verify", "--log", str(target)]) == 0
    assert optout(["logs", "verify", "--log", str(target), "--state", str(tmp_path / "state")]) == 1
    assert (
        "but the chain head says 60: records were removed from the end" in capsys.readouterr().out
    )


def test_a_keyed_log_verifies_with_its_key_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = make_log(tmp_path, key=KEY.encode())
    (tmp_path / "key").write_text(KEY + "\n")
    assert (
        optout(["logs", "verify", "--log", str(target), "--key-file", str(tmp_path / "key")]) == 0
    )
    assert optout(["logs", "verify", "--log", str(target)], {"OPTOUT_LOG_HMAC_KEY": KEY}) == 0
    wrong = {"OPTOUT_LOG_HMAC_KEY": "another-key-of-32-characters-xyz"}
    assert optout(["logs", "verify", "--log", str(target)], wrong) == 1
    assert optout(["logs", "verify", "--log", str(target)]) == 2
    captured = capsys.readouterr()
    assert "HMAC mismatch" in captured.out
    assert "give the key" in captured.out
    assert KEY not in captured.out + captured.err


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["logs", "verify", "{tmp}/missing.jsonl"], {}, "cannot read {tmp}/missing.jsonl"),
        (["logs", "verify"], {}, "the log is written to standard output"),
        (["logs", "verify"], {"OPTOUT_LOG": "{tmp}/nothing.jsonl"}, "no log at"),
        (["logs", "verify", "--log", "{log}", "--state", "{tmp}"], {}, "no chain head in"),
        (["logs", "verify", "--log", "{log}"], {"OPTOUT_LOG_HMAC_KEY": "sekrit"}, "at least 16"),
        (
            ["logs", "verify", "--log", "{log}", "--key-file", "{tmp}/nokey"],
            {},
            "cannot read the log HMAC key file",
        ),
    ],
)
def test_usage_errors_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    log = make_log(tmp_path, count=3)

    def fill(text: str) -> str:
        return text.format(tmp=tmp_path, log=log)

    code = optout([fill(a) for a in argv], {k: fill(v) for k, v in env.items()})
    err = capsys.readouterr().err
    assert code == 2
    assert fill(message) in err
    assert "sekrit" not in err


def test_a_gap_is_reported_but_verifies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "access.jsonl"
    target.mkdir()
    writer = LogWriter(str(target))
    writer.write({"n": 1})
    writer.flush()
    target.rmdir()
    writer.write({"n": 2})
    writer.close()
    assert optout(["logs", "verify", str(target)]) == 0
    out = capsys.readouterr().out
    assert "gap: records 1 to 1 (1) were lost: the log could not be written (access.jsonl:1)" in out
