"""The metrics addon, and shadow mode through the whole pipeline, with test flows."""

from __future__ import annotations

import dataclasses

from flows import make_flow, records, run, upstream_response
from metricsample import sample
from mitmproxy.flow import Error

from addons import default_addons
from proxy.engine.pipeline import SHADOW, VERDICT, Pipeline
from proxy.model import Action, Verdict

GPTBOT = "Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)"
BLOCK = Verdict(Action.BLOCK, "block-ai-training")


def test_the_addon_counts_each_flow_once(pipe: Pipeline) -> None:
    addons = default_addons(pipe)
    flow = make_flow(GPTBOT)
    run(addons, flow)
    for addon in addons:  # an error after the response must not count it again
        if hasattr(addon, "error"):
            addon.error(flow)
    who = {"agent": "GPTBot", "purpose": "ai-training", "identity": "claimed"}
    assert sample(pipe.metrics, "optout_requests_total", **who, action="block", status="403") == 1


def test_the_addon_counts_upstream_errors(pipe: Pipeline) -> None:
    addons = default_addons(pipe)
    flow = make_flow()
    for addon in addons:
        if hasattr(addon, "requestheaders"):
            addon.requestheaders(flow)
    flow.error = Error("Connection refused")
    for addon in addons:
        if hasattr(addon, "error"):
            addon.error(flow)
    nobody = {"agent": "none", "purpose": "none", "identity": "none", "action": "allow"}
    assert sample(pipe.metrics, "optout_requests_total", **nobody, status="none") == 1


def _shadow_run(pipe: Pipeline) -> dict[str, object]:
    flow = make_flow(GPTBOT)
    upstream_called = []

    def respond(f: object) -> None:
        upstream_called.append(f)
        upstream_response(flow, "text/plain", b"the page")

    run(default_addons(pipe), flow, respond)
    assert upstream_called, "shadow mode must pass the request to the upstream"
    assert flow.response is not None
    assert flow.response.status_code == 200
    assert flow.metadata[VERDICT] == Verdict(Action.ALLOW, "shadow")
    assert flow.metadata[SHADOW] == BLOCK
    (record,) = records(pipe)
    return record


def test_shadow_flag_passes_what_the_rules_block(pipe: Pipeline) -> None:
    pipe.shadow = True
    record = _shadow_run(pipe)
    assert record["event"] == {**record["event"], "action": "allow", "outcome": "success"}  # type: ignore[dict-item]
    optout = record["optout"]
    assert isinstance(optout, dict)
    assert optout["rule"] == "shadow"
    assert optout["shadow"] == {"action": "block", "rule": "block-ai-training"}
    who = {"agent": "GPTBot", "purpose": "ai-training", "identity": "claimed"}
    shadowed = {**who, "action": "block", "rule": "block-ai-training"}
    assert sample(pipe.metrics, "optout_shadow_decisions_total", **shadowed) == 1


def test_a_policy_that_does_not_enforce_is_shadow_mode(pipe: Pipeline) -> None:
    policy = dataclasses.replace(pipe.ruleset.policy, enforce=False)
    pipe.ruleset = dataclasses.replace(pipe.ruleset, policy=policy)
    _shadow_run(pipe)


def test_shadow_mode_leaves_allowed_requests_alone(pipe: Pipeline) -> None:
    pipe.shadow = True
    flow = make_flow()
    run(default_addons(pipe), flow, lambda f: upstream_response(f, "text/plain", b"x"))
    assert SHADOW not in flow.metadata
    (record,) = records(pipe)
    assert "shadow" not in record["optout"]  # type: ignore[operator]
