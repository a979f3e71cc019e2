"""Progress on a terminal: shown on stderr when it is a TTY, never otherwise or with --quiet.

The command runs as a user runs it (`python -m proxy`), its stderr on a real
pseudo-terminal (pty.openpty) or on a pipe; its stdout is a pipe either way and
must carry the same data.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from loggen import scenario

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}


def _run(argv: list[str], tty: bool) -> tuple[str, str]:
    """(stdout, stderr) of `optout ARGV` with stderr on a pty (`tty`) or a pipe."""
    if not tty:
        done = subprocess.run(
            [sys.executable, "-m", "proxy", *argv],
            capture_output=True,
            cwd=ROOT,
            env=ENV,
            timeout=90,
            check=False,
        )
        return done.stdout.decode(), done.stderr.decode()
    master, slave = pty.openpty()
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", "proxy", *argv],
            stdout=subprocess.PIPE,
            stderr=slave,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
            env=ENV,
        )
        os.close(slave)
        err = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not chunk:
                break
            err += chunk
        out = child.communicate(timeout=90)[0]
    finally:
        os.close(master)
    return out.decode(), err.decode(errors="replace")


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    built = scenario(tmp_path_factory.mktemp("progress"), rotate_every=4)
    return built.log, built.state


def test_verify_shows_a_bar_on_a_terminal_only(log: tuple[Path, Path]) -> None:
    path, state = log
    argv = ["logs", "verify", "--log", str(path), "--state", str(state)]
    out_tty, err_tty = _run(argv, tty=True)
    out_pipe, err_pipe = _run(argv, tty=False)
    assert "optout: verify access.jsonl" in err_tty
    assert "\x1b[" in err_tty  # drawn and erased with control sequences
    assert "optout: verify access.jsonl" not in err_pipe
    assert "\x1b[" not in err_pipe
    assert out_tty == out_pipe
    assert out_pipe.startswith("OK: records 1 to 14")


def test_quiet_shows_nothing_even_on_a_terminal(log: tuple[Path, Path]) -> None:
    path, state = log
    _, err = _run(["logs", "verify", "--log", str(path), "--state", str(state), "-q"], tty=True)
    assert "optout: verify" not in err
    assert "\x1b[" not in err
    assert "optout: read 4 file(s)" in err  # the messages stay: only progress goes


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        (["logs", "summary", "--json"], "optout: summary"),
        (["replay", "--rules", str(ROOT / "rules")], "optout: replay"),
    ],
)
def test_summary_and_replay_show_progress_on_a_terminal_only(
    log: tuple[Path, Path], argv: list[str], shown: str
) -> None:
    path, _ = log
    argv = [*argv, str(path)]
    out_tty, err_tty = _run(argv, tty=True)
    out_pipe, err_pipe = _run(argv, tty=False)
    assert shown in err_tty
    assert shown not in err_pipe
    assert "\x1b[" not in err_pipe
    assert out_tty == out_pipe
