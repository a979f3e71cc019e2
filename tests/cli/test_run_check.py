"""`optout run --check` and the start-up refusals: one line per problem, no traceback."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from paths import ROOT, RULES


def optout(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp)}
    return subprocess.run(
        [sys.executable, "-m", "proxy", "run", "--rules", str(RULES), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.fixture
def listening() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture
def refusing() -> Iterator[int]:
    with socket.socket() as sock:  # bound but not listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def _paths(tmp: Path) -> list[str]:
    return ["--log", str(tmp / "logs" / "access.jsonl"), "--state", str(tmp / "state")]


def test_check_passes_with_a_listening_upstream(tmp_path: Path, listening: int) -> None:
    upstream = f"http://127.0.0.1:{listening}"
    done = optout(tmp_path, "--check", "--upstream", upstream, "--listen", "127.0.0.1:0",
                  "--admin", "127.0.0.1:0", *_paths(tmp_path))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("optout: check passed: ")
    assert "ready" not in done.stderr


def test_check_lists_every_problem_one_per_line(
    tmp_path: Path, listening: int, refusing: int
) -> None:
    (tmp_path / "blocker").write_text("")  # a path under a file fails even for root
    log = tmp_path / "blocker" / "access.jsonl"
    done = optout(tmp_path, "--check", "--upstream", f"http://127.0.0.1:{refusing}",
                  "--listen", f"127.0.0.1:{listening}", "--admin", "off", "--log", str(log),
                  "--state", str(tmp_path / "state"))  # fmt: skip
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 3, done.stderr
    assert lines[0].startswith(f"optout: access log {log} (--log / OPTOUT_LOG) cannot be written")
    assert lines[1] == (
        f"optout: listen address 127.0.0.1:{listening} (--listen / OPTOUT_LISTEN) "
        "is in use by another program"
    )
    assert lines[2].startswith(
        f"optout: upstream http://127.0.0.1:{refusing} (--upstream / OPTOUT_UPSTREAM) "
        "is not reachable"
    )


def test_an_unwritable_log_refuses_to_start(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("")
    log = tmp_path / "blocker" / "access.jsonl"
    done = optout(tmp_path, "--upstream", "http://127.0.0.1:9", "--listen", "127.0.0.1:0",
                  "--admin", "off", "--log", str(log), "--state", str(tmp_path))  # fmt: skip
    assert done.returncode == 1
    assert "ready" not in done.stderr
    assert "Traceback" not in done.stderr
    [line] = done.stderr.splitlines()
    assert f"ERROR optout: access log {log} (--log / OPTOUT_LOG) cannot be written" in line


@pytest.mark.parametrize("which", ["--listen", "--admin"])
def test_a_port_in_use_is_one_line_without_traceback(
    tmp_path: Path, listening: int, which: str
) -> None:
    ports = {"--listen": "127.0.0.1:0", "--admin": "127.0.0.1:0", which: f"127.0.0.1:{listening}"}
    done = optout(tmp_path, "--upstream", "http://127.0.0.1:9", *_paths(tmp_path),
                  *(part for flag, port in ports.items() for part in (flag, port)))  # fmt: skip
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert f"127.0.0.1:{listening} ({which} / OPTOUT_" in line
    assert line.endswith("is in use by another program")


def test_refusals_follow_the_log_format(tmp_path: Path, listening: int) -> None:
    done = optout(tmp_path, "--upstream", "http://127.0.0.1:9", *_paths(tmp_path),
                  "--admin", "off", "--listen", f"127.0.0.1:{listening}",
                  "--log-format", "json")  # fmt: skip
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    entry = json.loads(line)
    assert entry["log.level"] == "error"
    assert "(--listen / OPTOUT_LISTEN) is in use" in entry["message"]


def test_a_port_out_of_range_says_so(tmp_path: Path) -> None:
    done = optout(tmp_path, "--upstream", "http://127.0.0.1:9", "--listen", "127.0.0.1:99999")
    assert done.returncode == 1
    assert "port 99999 is out of range 0-65535" in done.stderr
    assert "(--listen / OPTOUT_LISTEN)" in done.stderr
