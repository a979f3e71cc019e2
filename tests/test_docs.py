"""Every `optout` command in README.md and deploy/README.md that can run here does run.

The commands are taken from ```sh blocks and from inline code; those that serve
(`optout run` becomes `optout run --check`), need Docker, Kubernetes or the
internet, or hold placeholders (FILES, DIR, NAME) are left out, with the reason.
A command that runs must not fail on usage (exit 2: a flag the docs name and the
command no longer has) nor with a traceback.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from paths import ROOT

from proxy.store.logwriter import LogWriter

DOCS = (ROOT / "README.md", ROOT / "deploy" / "README.md")
PLACEHOLDER = re.compile(
    r"\[|\b(FILES?|DIR|NAME|NET|URLS?|KEY|S|N|LEVEL|MODE)\b|\.\.\.|--\w[\w-]* --"
)
# Subcommands whose run here would need what the test has not (a log, keys, a server).
NEEDS = {
    "demo": "serves until stopped",
    "evidence": "needs a log with the agent's records",
    "replay": "needs a log",
    "licence": "writes keys into the state dir",
    "licensee": "writes to the state dir",
    "catalogue": "imports from a file the docs do not ship",
    "charges": "needs a charges ledger",
}


def commands() -> list[tuple[str, str]]:
    """(where, command) for every `optout …` line in a sh block or inline code."""
    found: list[tuple[str, str]] = []
    for doc in DOCS:
        text = doc.read_text()
        for block in re.findall(r"```sh\n(.*?)```", text, re.S):
            for line in block.splitlines():
                line = line.split("  #")[0].strip()
                if "optout " in line and not line.startswith(("docker", "kubectl", "curl")):
                    found.append((doc.name, line[line.index("optout ") :]))
        found.extend((doc.name, c) for c in re.findall(r"`(optout [^`]+)`", text))
    return list(dict.fromkeys(found))


def runnable(command: str) -> str | None:
    """None when the command can run here, else why not."""
    words = shlex.split(command.split("|")[-1])
    if PLACEHOLDER.search(command) or "\u2026" in command:
        return "placeholder"
    if len(words) < 2:
        return "the bare command"
    if words[1] in NEEDS:
        return NEEDS[words[1]]
    if "/path/to/" in command:
        return "a path of the reader's"
    return None


RUNNABLE = [(where, c) for where, c in commands() if runnable(c) is None]


def test_the_docs_have_commands_to_run() -> None:
    assert len(commands()) >= 20
    assert len(RUNNABLE) >= 6


def _log(tmp: Path) -> Path:
    """A small log as the proxy writes it (chain head in tmp/state), for the logs commands."""
    log = tmp / "logs" / "access.jsonl"
    writer = LogWriter(str(log), state_dir=tmp / "state")
    for n, (agent, action) in enumerate([(None, "allow"), ("GPTBot", "block")]):
        writer.write(
            {
                "@timestamp": f"2026-12-03T10:0{n}:00.000Z",
                "event": {"kind": "event", "category": ["web"], "action": action},
                "source": {"ip": "203.0.113.9"},
                "url": {"domain": "label.example", "path": "/"},
                "http": {"request": {"method": "GET"}, "response": {"status_code": 200}},
                "optout": {"agent": agent, "identity": "claimed" if agent else "none"},
            }
        )
    writer.close()
    return log


@pytest.mark.parametrize(("where", "command"), RUNNABLE, ids=[c for _, c in RUNNABLE])
def test_a_documented_command_runs(where: str, command: str, tmp_path: Path) -> None:
    (tmp_path / "rules").symlink_to(ROOT / "rules")  # `--rules rules`, as from the checkout
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "OPTOUT_LOG": str(_log(tmp_path))}
    piped, _, last = command.rpartition("|")
    words = shlex.split(last)
    words = [sys.executable, "-m", "proxy", *words[1:]]
    if words[3] == "logs" and "--state" in words and words[-1] == "--state":
        words.append(str(tmp_path / "state"))
    if words[3] == "classify" and "--ip" in words:  # reverse DNS would leave loopback
        words += ["--verify-dns", "off"]
    if words[3] == "run":  # never serve: the preflight checks the same flags
        words = [
            w if not w.startswith("/var/log/") else str(tmp_path / "access.jsonl") for w in words
        ]
        words += ["--check", "--listen", "127.0.0.1:0", "--admin", "off"]
        words += ["--state", str(tmp_path / "state")]
    stdin = None
    if piped:
        stdin = subprocess.run(piped, shell=True, capture_output=True, text=True, check=True).stdout
    done = subprocess.run(
        words, input=stdin, capture_output=True, text=True, cwd=tmp_path, timeout=60,
        check=False, env={**env, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode != 2, f"{where}: {command}: {done.stderr}"
    assert "Traceback" not in done.stderr, f"{where}: {command}: {done.stderr}"
