"""The `optout` command's contract, which scripts and later tools rely on."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from paths import ROOT, RULES
from protego import Protego

GPTBOT = "Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)"


def optout(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "proxy", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


@pytest.fixture
def broken_rules(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    shutil.copytree(RULES / "agents", rules / "agents")
    shutil.copytree(RULES / "ipranges", rules / "ipranges")
    (rules / "policy.yaml").write_text(
        "default: allow\nrules:\n  - name: x\n    purpose: ai-trainig\n    action: deny\n"
    )
    return rules


def test_check_valid_rules() -> None:
    result = optout("check", "--rules", str(RULES))
    assert result.returncode == 0
    assert result.stdout.count("\n") == 1
    assert result.stdout.startswith(f"{RULES}: OK, ")
    assert "default allow" in result.stdout


def test_check_reports_one_line_per_problem(broken_rules: Path) -> None:
    result = optout("check", "--rules", str(broken_rules))
    assert result.returncode == 1
    policy = broken_rules / "policy.yaml"
    assert result.stdout.splitlines() == [
        f"{policy}:4: rule 1 (\"x\"): purpose: unknown purpose 'ai-trainig'; expected one of "
        "ai-training, ai-search, ai-assistant, search, preview, feed, archiver, seo, "
        "monitoring, other",
        f"{policy}:5: rule 1 (\"x\"): action: unknown action 'deny'; expected one of allow, block, "
        "charge, throttle, licence, challenge",
    ]


def test_check_reads_the_environment(broken_rules: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPTOUT_RULES", str(broken_rules))
    assert optout("check").returncode == 1


def test_run_refuses_invalid_rules_and_says_why(broken_rules: Path) -> None:
    result = optout("run", "--rules", str(broken_rules), "--upstream", "http://127.0.0.1:9")
    assert result.returncode == 1
    assert "unknown action 'deny'" in result.stderr
    assert "ready" not in result.stderr


def test_run_refuses_a_bad_upstream() -> None:
    result = optout("run", "--upstream", "label.example")
    assert result.returncode == 1
    assert "must be http(s)://HOST[:PORT]" in result.stderr


def test_classify_one_user_agent() -> None:
    result = optout("classify", "--user-agent", GPTBOT, "--path", "/music/")
    assert result.returncode == 0
    assert json.loads(result.stdout) == {
        "user_agent": GPTBOT,
        "agent": "GPTBot",
        "operator": "OpenAI",
        "purpose": "ai-training",
        "identity": "claimed",
        "action": "block",
        "rule": "block-ai-training",
        "outcome": "blocked",
        "score": 0,  # no network without --ip, no signal a user agent alone shows
        "status": 403,
        "headers": {},
    }


def test_classify_reads_user_agents_from_stdin() -> None:
    browser = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
    result = optout("classify", stdin=f"{browser}\r\n{GPTBOT}\n\n")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(x["user_agent"], x["agent"], x["identity"], x["action"]) for x in lines] == [
        (browser, None, "none", "allow"),
        (GPTBOT, "GPTBot", "claimed", "block"),
        ("", None, "none", "allow"),
    ]


def test_robots_shows_the_merged_file(tmp_path: Path) -> None:
    site = tmp_path / "robots.txt"
    site.write_text("User-agent: *\nDisallow: /admin/\n\nUser-agent: GPTBot\nAllow: /\n")
    result = optout("robots", "--upstream-file", str(site))
    assert result.returncode == 0
    robots = Protego.parse(result.stdout)
    assert not robots.can_fetch("https://label.example/", "GPTBot")
    assert not robots.can_fetch("https://label.example/admin/", "Googlebot")
    assert robots.can_fetch("https://label.example/music/", "Googlebot")
    assert "Content-Usage: train-ai=n" in result.stdout


@pytest.mark.parametrize(("status", "allowed"), [("404", True), ("503", False)])
def test_robots_without_a_site_file(status: str, allowed: bool) -> None:
    result = optout("robots", "--upstream-status", status)
    assert result.returncode == 0
    assert Protego.parse(result.stdout).can_fetch("https://l.example/a", "Googlebot") is allowed
    assert f"upstream status {status}" in result.stderr


def test_robots_missing_file() -> None:
    result = optout("robots", "--upstream-file", "/nonexistent/robots.txt")
    assert result.returncode == 1
    assert "cannot read /nonexistent/robots.txt" in result.stderr
