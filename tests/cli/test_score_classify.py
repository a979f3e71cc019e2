"""`optout classify` shows what each signal adds to the suspicion score, as a table and as JSON."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from paths import RULES

from proxy.cli.main import main

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
AWS_ADDRESS = "3.5.140.9"  # rules/networks/aws.txt: S3 ap-northeast-2
HTML = "Accept: text/html"


def _classify(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["classify", "--rules", str(RULES), "--user-agent", CHROME, *args]) == 0
    return capsys.readouterr().out


def test_json_has_the_score_and_each_part(capsys: pytest.CaptureFixture[str]) -> None:
    out = _classify(capsys, "--ip", AWS_ADDRESS, "--header", HTML, "--format", "json")
    row = json.loads(out)
    # https by default: a Chrome 131 without sec-ch-ua and sec-fetch-* is ua-headers-mismatch.
    assert row["score"] == 3
    assert row["score_parts"] == {
        "datacenter": 1,
        "ua-headers-mismatch": 1,
        "no-accept-language": 1,
    }
    assert sum(row["score_parts"].values()) == row["score"]
    assert (row["action"], row["rule"]) == ("allow", "default")  # shipped: no score rule


def test_a_request_showing_nothing_scores_zero_without_parts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    row = json.loads(_classify(capsys, "--scheme", "http", "--format", "json"))
    assert row["score"] == 0
    assert "score_parts" not in row


def test_the_table_has_a_score_column(capsys: pytest.CaptureFixture[str]) -> None:
    out = _classify(capsys, "--ip", AWS_ADDRESS, "--header", HTML, "--format", "table")
    header, _, row = out.splitlines()
    assert header.split()[5:7] == ["identity", "score"]  # "user agent" is two words
    assert "3 (datacenter 1, ua-headers-mismatch 1, no-accept-language 1)" in row
    plain = _classify(capsys, "--scheme", "http", "--format", "table").splitlines()[2]
    start = header.index("score")
    assert plain[start : start + 2] == "0 "


def test_classify_decides_with_the_policy_weights(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    policy = rules / "policy.yaml"
    text = policy.read_text().replace("  datacenter: 1\n", "  datacenter: 2.5\n")
    rule = '  - {name: suspicious, network: datacenter, score: ">= 4.5", action: block}\n'
    policy.write_text(text.replace("\nrules:\n", "\nrules:\n" + rule, 1))
    args = ["classify", "--rules", str(rules), "--user-agent", CHROME, "--format", "json"]
    assert main([*args, "--ip", AWS_ADDRESS, "--header", HTML]) == 0
    row = json.loads(capsys.readouterr().out)
    assert (row["score"], row["action"], row["rule"], row["status"]) == (
        4.5,
        "block",
        "suspicious",
        403,
    )
    more = ["--header", "Accept-Language: en"]
    assert main([*args, "--ip", AWS_ADDRESS, "--header", HTML, *more]) == 0
    row = json.loads(capsys.readouterr().out)
    assert (row["score"], row["rule"]) == (3.5, "default")
