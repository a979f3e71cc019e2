"""The README and deploy/README.md say what the commands do, and the commands do it.

Every `optout …` command of a ```sh block (continued lines joined) or of inline
code runs here unless it serves (`optout run` becomes `optout run --check`, which
checks the same flags), needs Docker, Kubernetes, Redis, the internet or files the
docs do not give, or holds placeholders (FILES, DIR, NAME, `[…]`); `runnable` says
why each one left out is. A command that runs exits as documented (0, unless the
docs say otherwise) with the output the docs promise (`EXPECT`), from a directory
laid out as the README's reader has it: `rules/` of the checkout, a log and state
written by the proxy's own writer, a site's robots.txt, and an upstream on loopback
for `http://127.0.0.1:8000`.

Where the README shows output, that output is checked against the real thing: the
`optout check` error line, and the demo's headers and access-log record, made by
running `optout demo` and sending it the requests its banner prints.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from paths import ROOT

from proxy.store.logwriter import LogWriter

DOCS = (ROOT / "README.md", ROOT / "deploy" / "README.md")
README = DOCS[0].read_text()
PLACEHOLDER = re.compile(
    r"\[|\b(FILES?|DIR|NAME|NET|URLS?|KEY|S|N|LEVEL|MODE|REF|NEW|LOGFILE|ID)\b|\.\.\.|--\w[\w-]* --"
)
# Subcommands whose run here would need what the test has not (a server, keys, input).
NEEDS = {
    "demo": "serves until stopped (test_the_demo_answers_and_logs_as_the_readme_shows)",
    "evidence": "needs a log with the agent's records",
    "replay": "needs a log and a second rules directory",
    "licence": "writes keys into the state dir",
    "licences": "needs a licence ledger",
    "licensee": "writes to the state dir",
    "catalogue import": "imports from a file the docs do not ship",
    "charges": "needs a charges ledger",
}
UPSTREAM = "http://127.0.0.1:8000"  # the docs' site; the test serves one on a free port
# What the docs promise a command prints (all must appear in its standard output and
# error), and its exit status when that is not 0.
EXPECT: dict[str, tuple[int, tuple[str, ...]]] = {
    "optout check --rules rules": (0, ("rules: OK, ", " agents of ", "default allow")),
    "optout check": (0, ("rules: OK, ",)),
    "optout classify --user-agent 'GPTBot/1.2' --path /music/": (
        0, ('"agent": "GPTBot"', '"action": "block"', '"purpose": "ai-training"'),
    ),
    "printf '%s\\n' 'curl/8.0' 'ClaudeBot/1.0' | optout classify": (
        0, ('"agent": "ClaudeBot"', '"agent": null'),
    ),
    "optout classify --user-agent 'GPTBot/1.2' --ip 20.171.206.7": (
        0, ('"identity": "verified"', '"verified_by": "ip-range:openai-gptbot"'),
    ),
    "optout robots --upstream-file site-robots.txt": (
        0, ("Disallow: /private/", "User-agent: GPTBot", "Content-Usage: train-ai=n"),
    ),
    "optout run --check": (0, ("check passed",)),
    "optout run": (0, ("check passed",)),
    "optout run --help": (0, ("--upstream URL", "OPTOUT_UPSTREAM")),
    "optout logs verify": (0, ("OK",)),
    "optout logs verify --state": (0, ("OK",)),
    "optout logs verify access-2.jsonl": (0, ("OK", "access-2.jsonl")),
    "optout logs violations": (0, ("violation(s)",)),
    "optout logs report --out report.html": (0, ("wrote report.html",)),
    "optout logs search --ref 355bf7c37e81a97f": (0, ("0 record(s)",)),
    "optout catalogue stats": (0, ("ai-training",)),
}  # fmt: skip


def _code_spans(text: str) -> list[str]:
    return [" ".join(c.split()) for c in re.findall(r"`(optout [^`]+)`", text)]


def _sh_lines(text: str) -> list[str]:
    found = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip().removesuffix("&").strip()
            if "optout " in line and not line.startswith(("docker", "kubectl", "curl", "redis")):
                # A pipe keeps its producer: `printf … | optout classify`.
                start = 0 if "| optout " in line else line.index("optout ")
                found.append(" ".join(line[start:].split()))
    return found


def commands() -> list[tuple[str, str]]:
    """(where, command) for every `optout …` line in a sh block or inline code."""
    found: list[tuple[str, str]] = []
    for doc in DOCS:
        text = doc.read_text()
        found += [(doc.name, c) for c in _sh_lines(text) + _code_spans(text)]
    return list(dict.fromkeys(found))


def _words(command: str) -> list[str]:
    return shlex.split(command.split(" | ")[-1])


def runnable(command: str) -> str | None:
    """None when the command can run here, else why not."""
    if PLACEHOLDER.search(command) or "\u2026" in command or "\\|" in command:
        return "placeholder"
    words = _words(command)
    if len(words) < 2:
        return "the bare command"
    for need in (" ".join(words[1:3]), words[1]):
        if need in NEEDS:
            return NEEDS[need]
    if "/path/to/" in command:
        return "a path of the reader's"
    if "--store" in words:
        return "needs a Redis server (tests/e2e covers it)"
    return None


ALL = commands()
RUNNABLE = [(where, c) for where, c in ALL if runnable(c) is None]


def test_the_docs_have_commands_to_run() -> None:
    assert len(ALL) >= 30
    assert len(RUNNABLE) >= 15
    # Every command with a promise is still in the docs (the promise would be dead).
    assert set(EXPECT) <= {_key(c) for _, c in RUNNABLE}


def test_every_command_is_run_or_left_out_for_a_reason() -> None:
    reasons = {c: runnable(c) for _, c in ALL}
    assert all(r is None or r for r in reasons.values())
    # A command the docs show in full is never left out as a placeholder by mistake.
    for command in ("optout check --rules rules", "optout logs verify", "optout catalogue stats"):
        assert reasons.get(command, "absent") is None, command


def _key(command: str) -> str:
    """The EXPECT key: the command as the docs write it, spaces collapsed."""
    return command


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    """A site on loopback that answers 200, standing in for the docs' 127.0.0.1:8000."""

    class Site(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        do_HEAD = do_GET  # noqa: N815

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


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
    worker = LogWriter(str(tmp / "access-2.jsonl"))  # one worker's log, `logs verify FILE`
    worker.write({"@timestamp": "2026-12-03T10:00:00.000Z", "event": {"action": "allow"}})
    worker.close()
    return log


def _optout(words: list[str], tmp: Path, env: dict[str, str], stdin: str = "") -> Any:
    return subprocess.run(
        [sys.executable, "-m", "proxy", *words], input=stdin, capture_output=True, text=True,
        cwd=tmp, timeout=90, check=False, env={**env, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip


@pytest.mark.parametrize(("where", "command"), RUNNABLE, ids=[c for _, c in RUNNABLE])
def test_a_documented_command_does_what_the_docs_say(
    where: str, command: str, tmp_path: Path, upstream: str
) -> None:
    (tmp_path / "rules").symlink_to(ROOT / "rules")  # `--rules rules`, as from the checkout
    (tmp_path / "site-robots.txt").write_text("User-agent: *\nDisallow: /private/\n")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "OPTOUT_LOG": str(_log(tmp_path)),
        "OPTOUT_UPSTREAM": upstream,  # the operator's environment names the site
        "OPTOUT_CACHE": "off",
    }
    piped, _, last = command.rpartition(" | ")
    words = shlex.split(last.replace(UPSTREAM, upstream))[1:]
    if words[0] == "logs" and words[-1] == "--state":
        words.append(str(tmp_path / "state"))
    if words[0] == "classify" and "--ip" in words:  # reverse DNS would leave loopback
        words += ["--verify-dns", "off"]
    if words[0] == "run" and "--help" not in words:  # never serve: the preflight checks it all
        words = [str(tmp_path / Path(w).name) if w.startswith("/var/") else w for w in words]
        words += ["--check", "--listen", "127.0.0.1:0", "--admin", "off"]
        words += ["--state", str(tmp_path / "state")]
    stdin = ""  # never the terminal's: `optout classify` alone reads user agents from it
    if piped:
        stdin = subprocess.run(piped, shell=True, capture_output=True, text=True, check=True).stdout
    done = _optout(words, tmp_path, env, stdin)
    status, promised = EXPECT.get(_key(command), (0, ()))
    said = done.stdout + done.stderr
    assert done.returncode == status, f"{where}: {command}: exit {done.returncode}: {said}"
    assert "Traceback" not in said, f"{where}: {command}: {said}"
    for text in promised:
        assert text in said, f"{where}: {command}: {text!r} not in {said}"
    if "--out" in words:
        assert (tmp_path / words[words.index("--out") + 1]).stat().st_size > 0


def test_the_error_example_is_what_check_prints(tmp_path: Path) -> None:
    """The README's `optout check` error line, reproduced with the rule it describes."""
    shown = re.search(r"Errors name the file, line, rule and field:\n\n```\n(.*?)\n```", README)
    assert shown, "the README's error example moved"
    example = shown.group(1)
    number, rule = re.search(r'rule (\d+) \("([\w-]+)"\)', example).groups()  # type: ignore[union-attr]
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    policy = rules / "policy.yaml"
    lines = policy.read_text().splitlines(keepends=True)
    starts = [n for n, line in enumerate(lines) if line.startswith("  - name: ")]
    at = starts[int(number) - 1]  # the new rule becomes rule `number`
    lines[at:at] = [f"  - name: {rule}\n", "    purpose: ai-trainig\n", "    action: block\n"]
    policy.write_text("".join(lines))
    done = _optout(["check", "--rules", "rules"], tmp_path, {"PATH": "/usr/bin:/bin"})
    assert done.returncode == 1
    # The example, at the line the rule's purpose now has, "..." standing for the rest.
    where, _, message = example.partition(": ")
    line = f"{where.rsplit(':', 1)[0]}:{at + 2}: {message}"
    pattern = re.escape(line).replace(re.escape("..."), ".*")
    assert re.search(pattern, done.stdout), f"{example!r} vs {done.stdout}"


def _flat(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            out |= _flat(value, f"{prefix}{key}.")
        else:
            out[prefix + key] = value
    return out


# Fields that differ from run to run; every other value of the README's record must be
# the demo's exactly.
_VARIES = {"@timestamp", "event.duration", "http.request.id", "optout.headers_served.sha256"}
_VARIES |= {"http.response.body.bytes"}  # the page quotes the request id, one per request
_VARIES |= {"event.sequence", "optout.chain.prev"}  # the browser's request came first


def test_the_demo_answers_and_logs_as_the_readme_shows(tmp_path: Path) -> None:
    log = tmp_path / "access.jsonl"
    demo = subprocess.Popen(
        [sys.executable, "-m", "proxy", "demo", "--listen", "127.0.0.1:0", "--admin", "off",
         "--log", str(log), "--state", str(tmp_path / "state"), "--rules", str(ROOT / "rules"),
         "--cache", "off"],
        stderr=subprocess.PIPE, text=True, cwd=tmp_path, env={"PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert demo.stderr is not None
    try:
        banner = [demo.stderr.readline() for _ in range(4)]
        base = re.search(r"is behind (http://[\d.]+:\d+)", banner[0]).group(1)  # type: ignore[union-attr]
        agents = [re.search(r"curl -si -A '([^']+)'", line) for line in banner[2:4]]
        browser, gptbot = (m.group(1) for m in agents if m)
        answers = {}
        for ua in (browser, gptbot):
            request = urllib.request.Request(base + "/", headers={"User-Agent": ua})
            try:
                with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                    answers[ua] = (response.status, response.headers)
            except urllib.error.HTTPError as refused:
                answers[ua] = (refused.code, refused.headers)
    finally:
        demo.terminate()
        demo.communicate(timeout=60)
    # "a browser gets the page, GPTBot gets a 403 …, and both carry the reservation headers"
    assert answers[browser][0] == 200
    assert answers[gptbot][0] == 403
    headers = re.search(r"reservation headers:\n\n```\n(.*?)```", README, re.S).group(1)  # type: ignore[union-attr]
    for line in headers.splitlines():
        name, _, value = line.partition(": ")
        for ua in (browser, gptbot):
            assert answers[ua][1][name] == value, (ua, name)
    # The log example is the GPTBot request's record, field for field.
    example = re.search(r"```json\n(\{\"@timestamp\".*?)```", README, re.S).group(1)  # type: ignore[union-attr]
    shown = _flat(json.loads(example))
    records = [json.loads(line) for line in log.read_text().splitlines()]
    (real,) = [_flat(r) for r in records if r["user_agent"]["original"] == gptbot]
    assert set(shown) == set(real), set(shown) ^ set(real)
    assert {k: v for k, v in shown.items() if k not in _VARIES} == {
        k: v for k, v in real.items() if k not in _VARIES
    }
    # The reference the README says finds the record does: the real one's id finds it.
    ref = real["http.request.id"]
    found = _optout(["logs", "search", "--log", str(log), "--ref", ref, "--json"], tmp_path,
                    {"PATH": "/usr/bin:/bin"})  # fmt: skip
    assert found.returncode == 0
    assert [json.loads(line)["http"]["request"]["id"] for line in found.stdout.splitlines()] == [
        ref
    ]


def test_the_deploy_docs_name_only_images_and_files_that_exist() -> None:
    """`FROM optout-proxy:TAG` is a tag the compose files build; every file they cite exists."""
    deploy = (ROOT / "deploy" / "README.md").read_text()
    built = {
        tag
        for compose in (ROOT / "docker-compose.yml", *ROOT.glob("deploy/*/docker-compose.yml"))
        for tag in re.findall(r"image: (optout-proxy:\S+)", compose.read_text())
    }
    named = set(re.findall(r"FROM (optout-proxy:\S+)", deploy))
    assert named, "deploy/README.md no longer shows how to build on the image"
    assert named <= built, f"{named - built} is built by no compose file"
    assert "being added" not in deploy
    for cited in re.findall(r"`((?:vector|grafana|prometheus|kubernetes)/[\w./-]+)`", deploy):
        assert (ROOT / "deploy" / cited).exists(), cited
    assert "up --build -V" in README  # a rebuilt image's rules, not the old volume's
