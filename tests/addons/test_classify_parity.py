"""`optout classify` decides as the proxy does: the same requests, through both, agree."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from flows import make_flow, pipeline, run, upstream_response
from mitmproxy import http
from mitmproxy.test import taddons
from paths import RULES

from addons import default_addons
from proxy.cli.classify import Options, classify_one
from proxy.decision.act import Buckets
from proxy.engine.pipeline import (
    CHARGED,
    CLASSIFICATION,
    LICENCE,
    OUTCOME,
    SHADOW,
    VERDICT,
)
from proxy.identity.verify import Verifier
from proxy.licensing import tokens
from proxy.model import RequestInfo
from proxy.ruleset import Ruleset, load_rules

KEY = tokens.generate_key()
GPTBOT = "Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)"
SEARCHBOT = "Mozilla/5.0 (compatible; OAI-SearchBot/1.0; +https://openai.com/searchbot)"
CLAUDEBOT = "Mozilla/5.0 (compatible; ClaudeBot/1.0; +claudebot@anthropic.com)"
AHREFS = "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
GPTBOT_IP, SEARCH_IP, ELSEWHERE = "20.171.206.7", "20.42.10.180", "203.0.113.9"
POLICY = f"""\
licences:
  public_keys: ["{tokens.public_key_text(KEY)}"]
rules:
  - {{name: block-spoofed, identity: spoofed, action: block}}
  - {{name: licensed-training, agent: GPTBot, action: licence}}
  - {{name: charge-ai-search, purpose: ai-search, action: charge, price: USD 0.01}}
  - {{name: throttle-seo, purpose: seo, action: throttle, rate: 1/min burst 2, per: client}}
  - {{name: block-ai-training, purpose: ai-training, action: block}}
"""


class Case(NamedTuple):
    ua: str
    ip: str
    path: str = "/music/"
    headers: dict[str, str] = {}


def _licence(paths: list[str]) -> dict[str, str]:
    expires = datetime.now(UTC) + timedelta(days=30)
    token = tokens.issue(KEY, licensee="Acme AI", agents=["GPTBot"], paths=paths, expires=expires)
    return {"authorization": f"License {token}"}


CASES = [
    Case(BROWSER, ELSEWHERE),
    Case(GPTBOT, GPTBOT_IP),  # licence absent
    Case(GPTBOT, GPTBOT_IP, headers=_licence(["/music/"])),  # present
    Case(GPTBOT, GPTBOT_IP, headers=_licence(["/press/"])),  # invalid for the path
    Case(GPTBOT, GPTBOT_IP, headers={"authorization": "License not-a-token"}),  # malformed
    Case(GPTBOT, ELSEWHERE),  # spoofed
    Case(SEARCHBOT, SEARCH_IP, headers={"crawler-max-price": "USD 0.05"}),  # charged
    Case(SEARCHBOT, SEARCH_IP),  # payment required
    Case(SEARCHBOT, SEARCH_IP, headers={"crawler-max-price": "lots"}),  # malformed price
    Case(CLAUDEBOT, ELSEWHERE),  # blocked
    Case(CLAUDEBOT, ELSEWHERE, path="/robots.txt"),  # always free
    *[Case(AHREFS, ELSEWHERE)] * 3,  # throttled on the third
    Case(AHREFS, "198.51.100.4"),  # another client: its own bucket
]


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> Ruleset:
    directory = tmp_path_factory.mktemp("parity") / "rules"
    shutil.copytree(RULES / "agents", directory / "agents")
    shutil.copytree(RULES / "ipranges", directory / "ipranges")
    shipped = (RULES / "policy.yaml").read_text()
    head = shipped[: shipped.index("\nrules:\n")]
    (directory / "policy.yaml").write_text(f"{head}\n{POLICY}\ndefault: allow\n")
    return load_rules(directory)


def _proxy(ruleset: Ruleset, tmp_path: Path, shadow: bool) -> list[dict[str, Any]]:
    """Each case through the addons, as the engine runs them; one chain keeps its buckets."""
    pipe = pipeline(ruleset, tmp_path)
    pipe.verifier, pipe.shadow = Verifier(ruleset.ipranges), shadow
    seen = []
    with taddons.context(*default_addons(pipe)):
        addons = default_addons(pipe)
        for case in CASES:
            flow = make_flow(case.ua, case.path)
            flow.client_conn.peername = (case.ip, 4711)
            for name, value in case.headers.items():
                flow.request.headers[name] = value
            passed: list[http.HTTPFlow] = []
            run(addons, flow, partial(_upstream, passed))
            assert flow.response is not None
            meta = flow.metadata
            seen.append(
                _facts(
                    meta[CLASSIFICATION].identity.value,
                    meta[VERDICT],
                    meta.get(SHADOW),
                    meta[OUTCOME],
                    None if passed else flow.response.status_code,
                    meta[LICENCE].error if meta[LICENCE] and not meta[LICENCE].ok else None,
                    meta.get(CHARGED),
                )
            )
    pipe.log.close()
    return seen


def _upstream(passed: list[http.HTTPFlow], flow: http.HTTPFlow) -> None:
    passed.append(flow)
    upstream_response(flow, "text/plain")


def _classify(ruleset: Ruleset, shadow: bool) -> list[dict[str, Any]]:
    """Each case through `optout classify`'s function, with the same verifier and buckets."""
    verifier, buckets, seen = Verifier(ruleset.ipranges), Buckets(), []
    for case in CASES:
        request = RequestInfo("GET", "label.example", case.path, case.ua, case.ip)
        options = Options(shadow=shadow)
        out = asyncio.run(
            classify_one(ruleset, request, verifier, case.headers, None, options, buckets)
        )
        shadowed = out.get("shadow")
        licence = out.get("licence")
        seen.append(
            {
                "identity": out["identity"],
                "verdict": (out["action"], out["rule"], out.get("licensee")),
                "shadow": (shadowed["action"], shadowed["rule"]) if shadowed else None,
                "outcome": out["outcome"],
                "status": out.get("status"),
                "licence_error": licence["error"] if licence else None,
                "charged": out["charged"]["amount"] if "charged" in out else None,
            }
        )
    return seen


def _facts(identity: str, verdict: Any, shadow: Any, outcome: str, *rest: Any) -> dict[str, Any]:
    status, licence_error, charged = rest
    return {
        "identity": identity,
        "verdict": (verdict.action.value, verdict.rule, verdict.licensee),
        "shadow": (shadow.action.value, shadow.rule) if shadow else None,
        "outcome": outcome,
        "status": status,
        "licence_error": licence_error,
        "charged": str(charged.amount) if charged else None,
    }


@pytest.mark.parametrize("shadow", ["off", "flag", "policy"])
def test_classify_decides_as_the_proxy(rules: Ruleset, tmp_path: Path, shadow: str) -> None:
    if shadow == "policy":
        rules = dataclasses.replace(rules, policy=dataclasses.replace(rules.policy, enforce=False))
    proxy = _proxy(rules, tmp_path, shadow == "flag")
    assert _classify(rules, shadow == "flag") == proxy
    outcomes = [seen["outcome"] for seen in proxy]
    if shadow == "off":  # the cases do cover every kind of answer
        assert outcomes == [
            "allowed",
            "licence-required",
            "licensed",
            "licence-required",
            "licence-required",
            "blocked",
            "charged",
            "payment-required",
            "bad-price-headers",
            "blocked",
            "allowed",
            "allowed",
            "allowed",
            "throttled",
            "allowed",
        ]
    else:
        assert set(outcomes) == {"allowed", "licensed"}
        assert sum(seen["shadow"] is not None for seen in proxy) == 12  # all but 3
