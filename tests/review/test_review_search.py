from __future__ import annotations

from pathlib import Path

import pytest
from loggen import LogBuilder, at

from proxy.review.files import ReviewError, resolve
from proxy.review.search import Filters, search
from tests.review.conftest import run_cli


def _paths(b: LogBuilder, **kw: object) -> list[str]:
    rows = search(resolve([str(b.log)]), Filters(**kw))  # type: ignore[arg-type]
    return [row[6] for row in rows]


@pytest.mark.parametrize(
    ("filters", "paths"),
    [
        ({"agent": "Googlebot"}, ["/releases/", "/b/2", "/releases/aurora"]),
        ({"agent": "Googlebot", "identity": "spoofed"}, ["/b/2"]),
        ({"action": "block"}, ["/a/1", "/b/2"]),
        ({"agent": "-"}, ["/", "/releases/aurora", "/press/"]),
        ({"purpose": "ai-training", "path": "/a/"}, ["/a/1", "/a/2", "/a/3", "/a/4"]),
        ({"path": "/*/aurora"}, ["/releases/aurora", "/releases/aurora"]),
        ({"ip": "20.171.206.8"}, ["/robots.txt", "/a/2", "/b/2"]),
        ({"ip": "66.249.66.0/24"}, ["/releases/", "/releases/aurora"]),
        ({"agent": "GPTBot", "since": at(3), "until": at(61)}, ["/b/1", "/robots.txt"]),
    ],
)
def test_filters(built: LogBuilder, filters: dict[str, str], paths: list[str]) -> None:
    assert _paths(built, **filters) == paths


def test_limit_applies_after_a_network_filter(built: LogBuilder) -> None:
    rows = list(search(resolve([str(built.log)]), Filters(ip="198.51.100.0/24"), limit=2))
    assert [r[6] for r in rows] == ["/", "/releases/aurora"]


def test_bad_network_is_an_error(built: LogBuilder) -> None:
    with pytest.raises(ReviewError, match="not an address or a network"):
        list(search(resolve([str(built.log)]), Filters(ip="10.0.0.0/99")))


def test_json_lines_are_the_records_exactly_as_logged(
    built: LogBuilder, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["logs", "search", str(built.log), "--agent", "GPTBot", "--json"]) == 0
    out = capsys.readouterr().out.encode().splitlines()
    assert out == [line for line in built.lines if b'"agent":"GPTBot"' in line]


def test_table(built: LogBuilder, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["logs", "search", str(built.log), "--identity", "spoofed"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["time", "ip", "agent", "identity", "action", "status", "path"]
    assert lines[2].split() == [
        at(63),
        "192.0.2.66",
        "Googlebot",
        "spoofed",
        "block",
        "403",
        "/b/2",
    ]
    assert lines[-1] == "1 record(s)"


def test_the_table_shows_terminal_escapes_as_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A crawler's path must not drive the reviewer's terminal or reverse a line."""
    b = LogBuilder(tmp_path)
    b.request(1, "GPTBot", "/a\x1b]0;pwned\x07\x1b[2J\u202e/b\x9b31m")
    log = b.write()
    assert run_cli(["logs", "search", str(log)]) == 0
    out = capsys.readouterr().out
    for control in ("\x1b", "\u202e", "\x9b"):
        assert control not in out
    assert "/a\\x1b]0;pwned\\x07\\x1b[2J\\u202e/b\\x9b31m" in out
