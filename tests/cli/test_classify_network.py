"""`optout classify --ip --header` shows the network, the signals and the decision."""

from __future__ import annotations

import json

import pytest
from paths import RULES

from proxy.cli.main import main

CHROME = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)


def _classify(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code = main(["classify", "--rules", str(RULES), "--verify-dns", "off", *args])
    assert code == 0
    return capsys.readouterr().out


def test_chrome_from_gptbot_range_is_undeclared(capsys: pytest.CaptureFixture[str]) -> None:
    out = _classify(capsys, "--ip", "20.171.206.7", "--user-agent", CHROME, "--format", "json")
    answer = json.loads(out)
    assert answer["identity"] == "undeclared"
    assert (answer["agent"], answer["action"], answer["rule"]) == (
        "GPTBot",
        "block",
        "block-ai-training",
    )
    assert answer["undeclared_operator"] == "OpenAI"
    assert answer["crawler_range"] == "openai-gptbot"
    assert answer["network"]["provider"] == "azure"


def test_network_and_signals_of_a_browser_string(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--ip", "3.5.140.9", "--user-agent", CHROME, "--scheme", "https"]
    out = _classify(capsys, *args, "--header", "Accept: text/html", "--format", "json")
    answer = json.loads(out)
    assert answer["network"] == {"provider": "aws", "service": "S3", "region": "ap-northeast-2"}
    assert answer["signals_seen"] == ["no-accept-language", "ua-headers-mismatch"]
    assert (answer["identity"], answer["action"]) == ("none", "allow")
    table = _classify(capsys, *args, "--format", "table").splitlines()
    assert table[0].split()[-5:] == ["outcome", "network", "signals", "seen", "status"]
    assert "aws/S3/ap-northeast-2" in table[2]


def test_a_home_address_has_no_network_and_no_signal(capsys: pytest.CaptureFixture[str]) -> None:
    headers = ["--header", "Accept-Language: en", "--header", "Accept: text/html"]
    headers += ["--header", 'Sec-CH-UA: "Chromium";v="131"', "--header", "Sec-Fetch-Dest: document"]
    out = _classify(capsys, "--ip", "198.51.100.4", "--user-agent", CHROME, *headers)
    answer = json.loads(out)
    assert answer["network"] == {"provider": "residential/unknown"}
    assert "signals_seen" not in answer
    assert answer["action"] == "allow"
