"""The challenge through the whole addon chain: page, answer, cookie, and what the upstream sees."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from flows import make_flow, pipeline, run, upstream_response
from mitmproxy import http
from mitmproxy.test import taddons
from paths import ROOT

from addons import default_addons
from proxy.decision.challenge import ANSWER_PATH, solve
from proxy.engine.pipeline import Pipeline
from proxy.ruleset import Ruleset, load_rules

UA = "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0"


@pytest.fixture(scope="module")
def challenging(tmp_path_factory: pytest.TempPathFactory) -> Ruleset:
    rules = tmp_path_factory.mktemp("challenge") / "rules"
    shutil.copytree(ROOT / "rules", rules)
    text = (ROOT / "rules" / "examples" / "challenge.yaml").read_text()
    text = text.replace("    network: datacenter\n", "    path: /\n").replace(
        "difficulty: 16", "difficulty: 6"
    )
    (rules / "policy.yaml").write_text(text)
    return load_rules(rules)


@pytest.fixture
def chain(challenging: Ruleset, tmp_path: Path) -> Iterator[tuple[Pipeline, list[object]]]:
    p = pipeline(challenging, tmp_path)
    p.state_dir = tmp_path / "state"
    addons = default_addons(p)
    with taddons.context(*addons):
        yield p, addons
    p.log.close()


def _records(p: Pipeline) -> list[dict[str, object]]:
    p.log.close()
    assert p.state_dir is not None
    log = p.state_dir.parent / "access.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()]


def _page(upstream: list[http.Request]) -> object:
    def respond(flow: http.HTTPFlow) -> None:
        upstream.append(flow.request.copy())
        upstream_response(flow, "text/html", b"<html><head></head><body>Aurora</body></html>")

    return respond


def test_page_answer_cookie_and_the_upstream_never_sees_the_cookie(
    chain: tuple[Pipeline, list[object]],
) -> None:
    p, addons = chain
    seen: list[http.Request] = []
    first = make_flow(UA, "/releases/x", "text/html")
    run(addons, first, _page(seen))
    assert first.response is not None
    assert first.response.status_code == 403
    token = re.search(r'"token": "([^"]+)"', first.response.text or "").group(1)  # type: ignore[union-attr]
    answer = make_flow(
        UA, f"{ANSWER_PATH}?t={token}&n={solve(token, 6)}&next=/releases/x", "text/html"
    )
    run(addons, answer, _page(seen))
    assert answer.response is not None
    assert answer.response.status_code == 303
    assert answer.response.headers["location"] == "/releases/x"
    assert answer.response.headers["tdm-reservation"] == "1"  # the proxy's own answers carry it
    cookie = answer.response.headers["set-cookie"].split(";")[0]
    assert "HttpOnly" in answer.response.headers["set-cookie"]
    passed = make_flow(UA, "/releases/x", "text/html")
    passed.request.headers["cookie"] = f"session=s1; {cookie}; theme=dark"
    run(addons, passed, _page(seen))
    assert passed.response is not None
    assert passed.response.status_code == 200
    assert [r.headers.get_all("cookie") for r in seen] == [["session=s1; theme=dark"]]
    only_ours = make_flow(UA, "/cover.png", "image/*")
    only_ours.request.headers["cookie"] = cookie
    run(addons, only_ours, _page(seen))
    assert "cookie" not in seen[-1].headers
    records = _records(p)
    assert [(r["optout"]["outcome"], r["optout"]["challenge"]["reason"]) for r in records] == [  # type: ignore[index]
        ("challenged", "none"),
        ("challenge-passed", "solved"),
        ("challenge-passed", "cookie"),
        ("challenge-passed", "cookie"),
    ]
    assert records[1]["optout"]["rule"] == "challenge-datacenter"  # type: ignore[index]
    keys = list((p.state_dir / "challenge-keys").glob("*.key"))  # type: ignore[operator]
    assert len(keys) == 1


def test_declared_crawlers_and_free_paths_are_never_challenged(
    chain: tuple[Pipeline, list[object]],
) -> None:
    p, addons = chain
    seen: list[http.Request] = []
    for ua, path in [
        ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "/x"),
        ("GPTBot/1.2 (+https://openai.com/gptbot)", "/x"),
        (UA, "/robots.txt"),
        (UA, "/sitemap.xml"),
    ]:
        run(addons, make_flow(ua, path, "text/html"), _page(seen))
    outcomes = [(r["optout"]["rule"], r["optout"].get("outcome")) for r in _records(p)]  # type: ignore[index]
    assert outcomes[0][0] == "default"  # bingbot (claimed: no DNS here) gets the default
    assert outcomes[1][0] == "block-ai-training"
    assert [rule for rule, _ in outcomes[2:]] == ["always-free", "always-free"]
    assert not any(str(o).startswith("challenge") for _, o in outcomes)


def test_the_answer_path_is_never_forwarded(chain: tuple[Pipeline, list[object]]) -> None:
    _, addons = chain
    seen: list[http.Request] = []
    for method in ("GET", "POST"):
        flow = make_flow(UA, f"{ANSWER_PATH}?t=x&n=1", "text/html")
        flow.request.method = method
        run(addons, flow, _page(seen))
        assert flow.response is not None
        assert flow.response.status_code in (403, 405)
    assert seen == []
