"""Every message a serving command writes on stderr has one format per --log-format.

An operator's log collector parses stderr: in text every line is `TIME LEVEL LOGGER:
message`, in json every line is an object; never plain `optout:` lines beside
timestamped ones. Every refusal of a setting names both the flag and the variable,
so the operator can fix whichever they used. The commands run as an operator runs
them, each refusing to start for another reason.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from paths import ROOT

TEXT_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING|ERROR) [\w.]+: .+")
# (name, arguments after `optout run`, environment, the flag and the variable named)
CASES = [
    ("port out of range", ["--listen", "127.0.0.1:99999"], {}, ("--listen", "OPTOUT_LISTEN")),
    ("log not writable", ["--log", "/proc/none/x.jsonl"], {}, ("--log", "OPTOUT_LOG")),
    ("bad size from env", [], {"OPTOUT_MAX_BODY": "lots"}, ("--max-body", "OPTOUT_MAX_BODY")),
    ("upstream with path", ["--upstream", "http://127.0.0.1:1/app"], {},
     ("--upstream", "OPTOUT_UPSTREAM")),
    ("short hmac key", [], {"OPTOUT_LOG_HMAC_KEY": "short"},
     ("--log-hmac-key-file", "OPTOUT_LOG_HMAC_KEY")),
    ("empty token file", ["--metrics-token-file", "EMPTY"], {},
     ("--metrics-token-file", "OPTOUT_METRICS_TOKEN_FILE")),
    ("admin port in use", ["--admin", "BUSY"], {}, ("--admin", "OPTOUT_ADMIN")),
]  # fmt: skip


@pytest.fixture(scope="module")
def busy() -> Iterator[str]:
    """A loopback port another program listens on."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield f"127.0.0.1:{taken.getsockname()[1]}"


def _start(
    args: list[str], env: dict[str, str], fmt: str, tmp: Path, busy: str
) -> subprocess.Popen[str]:
    empty = tmp / "empty-token"
    empty.write_text("")
    args = [busy if a == "BUSY" else str(empty) if a == "EMPTY" else a for a in args]
    defaults = {"--upstream": "http://127.0.0.1:1", "--listen": "127.0.0.1:0", "--admin": "off"}
    for flag, default in defaults.items():
        if flag not in args:
            args += [flag, default]
    command = [
        sys.executable,
        "-m",
        "proxy",
        "run",
        "--log-format",
        fmt,
        "--rules",
        str(ROOT / "rules"),
        "--state",
        str(tmp / "state"),
        "--cache",
        "off",
        *args,
    ]
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OPTOUT_")}
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp,
        env={**environ, "HOME": str(tmp), "OPTOUT_VERIFY_DNS": "off", **env},
    )  # fmt: skip


JSON_CASES = ("port out of range", "log not writable", "bad size from env", "admin port in use")


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_refusals_have_one_format_and_name_flag_and_variable(
    fmt: str, tmp_path: Path, busy: str
) -> None:
    # All at once: each loads the rules for a few seconds before it refuses.
    cases = [c for c in CASES if fmt == "text" or c[0] in JSON_CASES]
    started = {}
    for name, args, env, _ in cases:
        (tmp_path / name).mkdir()
        started[name] = _start(args, env, fmt, tmp_path / name, busy)
    for name, _, _, named in cases:
        out, err = started[name].communicate(timeout=110)
        assert started[name].returncode == 1, f"{name}: {err}"
        lines = err.splitlines()
        assert lines, name
        for line in lines:
            if fmt == "text":
                assert TEXT_LINE.fullmatch(line), f"{name}: not a text-format line: {line!r}"
            else:
                entry = json.loads(line)
                assert set(entry) >= {"@timestamp", "log.level", "message"}, line
        errors = [
            line if fmt == "text" else json.loads(line)["message"]
            for line in lines
            if (" ERROR " in line if fmt == "text" else json.loads(line)["log.level"] == "error")
        ]
        assert len(errors) == 1, f"{name}: {lines}"
        flag, variable = named
        assert flag in errors[0], f"{name}: {errors[0]}"
        assert variable in errors[0], f"{name}: {errors[0]}"
        assert "Traceback" not in err
        assert out == ""


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_the_ready_line_looks_like_the_messages_after_it(fmt: str, tmp_path: Path) -> None:
    proxy = _start(["--log", str(tmp_path / "access.jsonl")], {}, fmt, tmp_path, "")
    assert proxy.stderr is not None
    try:
        ready = proxy.stderr.readline()
        assert "optout-proxy ready on http://127.0.0.1:" in ready
    finally:
        proxy.terminate()
    _, rest = proxy.communicate(timeout=60)
    lines = [ready.rstrip("\n"), *rest.splitlines()]
    assert len(lines) >= 2  # the ready line, then the shutdown
    for line in lines:
        if fmt == "text":
            assert TEXT_LINE.fullmatch(line), line
        else:
            assert json.loads(line)["log.level"] in ("info", "warning"), line


def test_run_check_answers_in_json_when_asked(tmp_path: Path, busy: str) -> None:
    check = _start(["--check", "--admin", "BUSY"], {}, "json", tmp_path, busy)
    out, err = check.communicate(timeout=110)
    assert check.returncode == 1
    problems = [json.loads(line) for line in err.splitlines()]
    assert {p["log.level"] for p in problems} == {"error"}
    assert any("--admin / OPTOUT_ADMIN" in p["message"] for p in problems)
    assert any("--upstream / OPTOUT_UPSTREAM" in p["message"] for p in problems)
    assert out == ""
