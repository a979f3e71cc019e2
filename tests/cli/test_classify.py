"""`optout classify` honours shadow mode and Web Bot Auth as the proxy does, and says what it
did not check (tests/addons/test_classify_parity.py compares its decisions with the proxy's)."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from paths import ROOT, RULES

from proxy.cli import classify
from proxy.cli.main import main
from proxy.identity import webbotauth

GPTBOT = "Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)"
AGENT_URL = "https://chatgpt.com"  # ChatGPT Agent's Signature-Agent in rules/agents/openai.yaml
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
KEY = Ed25519PrivateKey.generate()
SHADOWED = {
    "action": "allow",
    "rule": "shadow",
    "shadow": {"action": "block", "rule": "block-ai-training"},
    "outcome": "allowed",
}


def optout(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "proxy", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def _keyid(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    return webbotauth.jwk_thumbprint({"kty": "OKP", "crv": "Ed25519", "x": x})


def signed_headers(key: Ed25519PrivateKey, authority: str = "label.example") -> list[str]:
    """--header values of a request ChatGPT Agent signed for `authority`, made just now."""
    created = int(time.time()) - 10
    params = f'created={created};expires={created + 300};keyid="{_keyid(key)}";tag="web-bot-auth"'
    headers = {
        "signature-agent": f'a="{AGENT_URL}"',
        "signature-input": f'sig1=("@authority" "signature-agent";key="a");{params}',
        "signature": "sig1=:AAAA:",
    }
    unsigned = webbotauth.parse_request(headers, "GET", authority, "/", "https")
    assert unsigned is not None
    signature = base64.b64encode(key.sign(webbotauth.signature_base(unsigned))).decode()
    headers["signature"] = f"sig1=:{signature}:"
    return [f"{name}: {value}" for name, value in headers.items()]


def _args(headers: list[str]) -> list[str]:
    """The request's Host (the signature covers it) and its headers, as flags."""
    return ["--host", "label.example", *(a for h in headers for a in ("--header", h))]


@pytest.mark.parametrize(
    ("argv", "env"),
    [(["--shadow"], {}), ([], {"OPTOUT_SHADOW": "on"})],
)
def test_shadow_mode_by_flag_or_variable(
    argv: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = optout("classify", "--user-agent", GPTBOT, *argv)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert {k: answer[k] for k in SHADOWED} == SHADOWED
    assert "status" not in answer


def test_a_policy_that_does_not_enforce_is_shadow_mode(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    policy = rules / "policy.yaml"
    policy.write_text(policy.read_text().replace("version: 1\n", "version: 1\nenforce: false\n"))
    result = optout("classify", "--rules", str(rules), "--user-agent", GPTBOT)
    answer = json.loads(result.stdout)
    assert {k: answer[k] for k in SHADOWED} == SHADOWED


def test_a_signature_is_not_checked_unless_asked() -> None:
    result = optout("classify", "--user-agent", CHROME, *_args(signed_headers(KEY)))
    answer = json.loads(result.stdout)
    assert answer["identity"] == "none"
    assert answer["agent"] is None
    assert answer["web_bot_auth"] == (
        "not checked: --fetch-keys fetches the key directory of https://chatgpt.com"
    )
    off = optout(
        "classify", "--user-agent", CHROME, "--web-bot-auth", "off", *_args(signed_headers(KEY))
    )
    assert json.loads(off.stdout)["web_bot_auth"] == "off (--web-bot-auth / OPTOUT_WEB_BOT_AUTH)"


class FakeDirectory:
    """The key directory of the agent, without the network."""

    def __init__(self, keys: dict[str, Ed25519PublicKey]) -> None:
        self._keys = keys
        self.closed = False

    async def keys(self, agent_url: str) -> dict[str, Ed25519PublicKey]:
        assert agent_url == AGENT_URL
        return self._keys

    async def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize(
    ("published", "identity", "detail"),
    [
        (KEY, "verified", {"verified_by": "web-bot-auth:https://chatgpt.com"}),
        (Ed25519PrivateKey.generate(), "none", {"verification_failure": "web bot auth: "}),
    ],
)
def test_fetch_keys_checks_the_signature_with_the_proxys_verifier(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    published: Ed25519PrivateKey,
    identity: str,
    detail: dict[str, str],
) -> None:
    directory = FakeDirectory({_keyid(published): published.public_key()})
    monkeypatch.setattr(classify, "_key_directory", lambda: directory)
    headers = _args(signed_headers(KEY))
    assert main(["classify", "--user-agent", CHROME, "--fetch-keys", *headers]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["identity"] == identity
    assert answer["web_bot_auth"] == "checked"
    for name, start in detail.items():
        assert str(answer[name]).startswith(start)
    assert directory.closed


def test_without_fetch_keys_no_directory_is_made(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse() -> None:
        raise AssertionError("the key directory must not be fetched")

    monkeypatch.setattr(classify, "_key_directory", refuse)
    headers = _args(signed_headers(KEY))
    assert main(["classify", "--user-agent", CHROME, "--ip", "203.0.113.9", *headers]) == 0
    assert json.loads(capsys.readouterr().out)["web_bot_auth"].startswith("not checked")


def test_user_agents_from_stdin_share_the_throttle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    policy = rules / "policy.yaml"
    throttle = "  - {name: slow-seo, purpose: seo, action: throttle, rate: 1/min burst 1}\n"
    policy.write_text(policy.read_text().replace("rules:\n", "rules:\n" + throttle, 1))
    ahrefs = "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)"
    monkeypatch.setattr("sys.stdin", _Lines([ahrefs, ahrefs]))
    assert main(["classify", "--rules", str(rules)]) == 0
    outcomes = [json.loads(line)["outcome"] for line in capsys.readouterr().out.splitlines()]
    assert outcomes == ["allowed", "throttled"]


class _Lines:
    def __init__(self, lines: list[str]) -> None:
        self._lines = [line + "\n" for line in lines]

    def __iter__(self) -> object:
        return iter(self._lines)


def test_piped_output_is_json_lines_and_a_table_on_request() -> None:
    piped = optout("classify", "--rules", str(RULES), "--user-agent", "ClaudeBot/1.0")
    assert json.loads(piped.stdout)["agent"] == "ClaudeBot"
    shown = optout(
        "classify", "--rules", str(RULES), "--user-agent", "ClaudeBot/1.0", "--format", "table"
    )
    header, rule, row = shown.stdout.splitlines()
    assert header.split() == [
        "user", "agent", "agent", "operator", "purpose", "identity", "score", "action", "rule",
        "outcome", "status",
    ]  # fmt: skip
    assert set(rule) == {"-", " "}
    assert row.split() == [
        "ClaudeBot/1.0", "ClaudeBot", "Anthropic", "ai-training", "claimed", "0", "block",
        "block-ai-training", "blocked", "403",
    ]  # fmt: skip


def test_the_table_shortens_long_user_agents() -> None:
    ua = "Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)" + " x" * 40
    lines = classify.render_table([{"user_agent": ua, "agent": "GPTBot", "status": 403}])
    assert lines.splitlines()[2].startswith(ua[: classify.UA_WIDTH - 1] + "… ")
