from __future__ import annotations

import json
from pathlib import Path

import pytest
from loggen import LogBuilder, at, scenario

from proxy.review.files import ReviewError, parse_time, resolve
from proxy.review.summary import summarise
from tests.review.conftest import run_cli


def _rows(files: list[Path], **kw: object) -> dict[str, object]:
    return {r.name: r for r in summarise(files, **kw).rows}  # type: ignore[arg-type]


def test_figures_per_agent(built: LogBuilder) -> None:
    rows = _rows(resolve([str(built.log)]))
    gpt = rows["GPTBot"]
    assert (gpt.requests, gpt.blocked, gpt.allowed) == (6, 1, 5)
    assert gpt.bytes_served == 300 + 4000 + 300 + 4000 + 4000  # allowed responses only
    assert (gpt.operator, gpt.purpose, gpt.claimed, gpt.verified) == ("OpenAI", "ai-training", 6, 0)
    assert gpt.fetched_robots_txt
    assert gpt.first_seen == at(1)
    assert gpt.last_seen == at(62)
    google = rows["Googlebot"]
    assert (google.requests, google.verified, google.spoofed, google.blocked) == (3, 2, 1, 1)
    assert not google.fetched_robots_txt
    assert google.bytes_served == 4000
    assert rows["ClaudeBot"].requests == 2
    browsers = rows["(no agent)"]
    assert (browsers.requests, browsers.operator, browsers.bytes_served) == (3, None, 3000)
    assert list(rows)[0] == "GPTBot"  # most requests first


def test_rotated_and_gzipped_files_give_the_same_answer(tmp_path: Path) -> None:
    plain = scenario(tmp_path / "plain")
    rotated = scenario(tmp_path / "rotated", rotate_every=4)
    files = resolve([str(rotated.log)])
    assert len(files) == 4
    assert all(f.name.endswith(".gz") for f in files[:3])
    assert _rows(files) == _rows(resolve([str(plain.log)]))


def test_window_and_gaps(tmp_path: Path) -> None:
    b = LogBuilder(tmp_path)
    b.request(0, "GPTBot")
    b.gap(30, 3)
    b.request(60, "GPTBot")
    b.request(24 * 60, "GPTBot")
    b.write()
    files = resolve([str(b.log)])
    assert summarise(files).gaps == 1
    window = summarise(
        files, parse_time("2026-11-02T09:30:00Z"), parse_time("2026-11-02", end=True)
    )
    assert [(r.name, r.requests) for r in window.rows] == [("GPTBot", 1)]
    assert window.gaps == 1
    assert summarise(files, parse_time("2026-11-03")).gaps == 0


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        ("operator", {"OpenAI": 6, "Google": 3, "Anthropic": 2, "(no operator)": 3}),
        ("purpose", {"ai-training": 8, "search": 3, "(no purpose)": 3}),
    ],
)
def test_group_by(built: LogBuilder, by: str, expected: dict[str, int]) -> None:
    rows = summarise(resolve([str(built.log)]), by=by).rows
    assert {r.name: r.requests for r in rows} == expected


def test_cli_table_is_aligned_and_json_is_one_document(
    built: LogBuilder, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["logs", "summary", str(built.log)]) == 0
    lines = capsys.readouterr().out.splitlines()
    header, rule = lines[0], lines[1]
    end = header.index("requests") + len("requests")
    assert all(line[end - 1].isdigit() for line in lines[2:6])  # numbers right-aligned
    assert len(rule.split("  ")) == 13
    assert "GPTBot" in lines[2]
    assert run_cli(["logs", "summary", str(built.log), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["totals"] == {"requests": 14, "blocked": 2, "allowed": 12, "bytes_served": 20600}


def test_default_files_come_from_optout_log(
    built: LogBuilder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPTOUT_LOG", str(built.log))
    assert resolve([]) == [built.log]
    monkeypatch.setenv("OPTOUT_LOG", "-")
    with pytest.raises(ReviewError, match="standard output"):
        resolve([])


def test_missing_file_and_bad_time_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["logs", "summary", str(tmp_path / "nope.jsonl")]) == 2
    assert "no such log file" in capsys.readouterr().err
    with pytest.raises(ReviewError, match="cannot parse time 'soon'"):
        parse_time("soon")


def test_time_parsing() -> None:
    assert parse_time("2026-11-25") == "2026-11-25T00:00:00.000Z"
    assert parse_time("2026-11-25", end=True) == "2026-11-26T00:00:00.000Z"
    assert parse_time("2026-11-25T17:00:00+01:00") == "2026-11-25T16:00:00.000Z"
    assert parse_time(None) is None


def test_cli_offers_every_grouping_without_loading_duckdb() -> None:
    import subprocess
    import sys

    from proxy.cli import review as cli
    from proxy.review import summary

    assert cli.GROUPS == summary.GROUPS
    # `optout run` imports the CLI: the analytics engine must not come with it.
    probe = "import sys, proxy.cli; print('duckdb' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
