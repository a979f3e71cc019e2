"""Review filters outside the log's vocabulary fail with a suggestion; junk lines are named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from loggen import LogBuilder, scenario

from proxy.review.files import ReviewError
from proxy.review.vocabulary import check_agent, check_choice, check_ip, unreadable
from tests.review.conftest import run_cli


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("purpose", "ai-trainig", "did you mean ai-training?"),
        ("action", "blok", "did you mean block?"),
        ("identity", "spofed", "did you mean spoofed?"),
        (
            "action",
            "zzz",
            "one of allow, block, charge, throttle, licence, challenge, error, log-gap",
        ),
    ],
)
def test_a_typo_fails_with_the_closest_word(flag: str, value: str, message: str) -> None:
    with pytest.raises(ReviewError, match=f"--{flag} '{value}' is not a {flag}") as caught:
        check_choice(flag, value)
    assert message in str(caught.value)


@pytest.mark.parametrize(("flag", "value"), [("purpose", "ai-training"), ("action", "-")])
def test_words_of_the_log_pass(flag: str, value: str) -> None:
    check_choice(flag, value)


def test_an_agent_name_in_the_wrong_case_or_misspelt() -> None:
    with pytest.raises(ReviewError, match="case-sensitive; did you mean GPTBot"):
        check_agent("agent", "gptbot", ["GPTBot", "ClaudeBot"])
    with pytest.raises(ReviewError, match="did you mean ClaudeBot"):
        check_agent("agent", "ClaudBot", ["GPTBot", "ClaudeBot"])


@pytest.mark.parametrize("value", ["999.1.1.1", "203.0.113.0/33", "example.com"])
def test_an_address_that_is_none_fails(value: str) -> None:
    with pytest.raises(ReviewError, match="is not an address or a network"):
        check_ip(value)


def test_search_refuses_a_typo(built: LogBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["logs", "search", str(built.log), "--purpose", "ai-trainig"]) == 2
    assert "did you mean ai-training?" in capsys.readouterr().err
    assert run_cli(["logs", "search", str(built.log), "--ip", "999.1.1.1"]) == 2


def test_a_file_that_is_not_a_log_counts_no_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("hello\nworld\n")
    assert run_cli(["logs", "summary", str(junk), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["totals"]["requests"] == 0
    assert f"skipped 2 line(s) that are not JSON records: {junk}:1, {junk}:2" in captured.err
    assert f"read 1 file(s): {junk}" in captured.err


def test_a_record_cut_short_is_named_with_file_and_line(built: LogBuilder) -> None:
    with built.log.open("ab") as f:
        f.write(b'{"@timestamp": "2026-11-25T00:00:00.000Z", "event": {"seq\n')
    where, count = unreadable([built.log])
    lines = built.log.read_bytes().count(b"\n")
    assert (where, count) == ([f"{built.log}:{lines}"], 1)


@pytest.mark.parametrize("command", [["verify"], ["summary"], ["search"]])
def test_every_command_reads_the_rotated_files_of_a_file_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    log = scenario(tmp_path, rotate_every=5).log
    files = sorted(log.parent.iterdir())
    assert len(files) > 2
    assert run_cli(["logs", *command, str(log)]) == 0
    err = capsys.readouterr().err
    assert f"optout: read {len(files)} file(s): " in err
    assert str(log) in err
