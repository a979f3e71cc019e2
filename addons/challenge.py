"""Challenge: answer the challenge's answer path, and keep our cookie from the upstream.

Requests for proxy.decision.challenge.ANSWER_PATH are always answered here, in
requestheaders, whatever the rules (a client a rule challenges must reach it) and
never forwarded: a right answer gets the cookie and a 303 back to its page, any
other a 403 that says why. Challenging itself is a verdict, acted on in
addons/decide.py with the same keys and spent answers (`Challenges`).

The cookie is the proxy's, not the site's: it is removed from the Cookie header
of every request forwarded, so the upstream never sees it.
"""

from __future__ import annotations

import time

from mitmproxy import http

from addons.decide import _response
from proxy.decision.challenge import ANSWER_PATH, COOKIE, Challenges
from proxy.decision.challengegate import answered
from proxy.decision.challengestore import KeyStore, MemoryKeys, SpentAnswers, StateDirKeys
from proxy.engine.pipeline import EXTRA, OUTCOME, REFERENCE, REQUEST, RULESET, VERDICT, Pipeline
from proxy.model import Action, Verdict

ANSWER_RULE = "challenge-answer"  # the rule named when an answer's own is unknown


def challenge_state(pipeline: Pipeline) -> Challenges:
    """Keys in the state dir (memory without one, in unit tests), or in the shared store
    (--store) with those as its fallback; spent answers in memory."""
    state = pipeline.state_dir
    local: KeyStore = MemoryKeys() if state is None else StateDirKeys(state)
    if pipeline.shared is not None:
        local = pipeline.shared.challenge_keys(local)
    return Challenges(local, SpentAnswers())


class Challenge:
    def __init__(self, pipeline: Pipeline, challenges: Challenges) -> None:
        self.pipeline = pipeline
        self.challenges = challenges

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live or REQUEST not in flow.metadata:
            return
        request = flow.metadata[REQUEST]
        if request.path != ANSWER_PATH:
            return
        _, _, query = flow.request.path.partition("?")
        policy = flow.metadata[RULESET].policy
        result, check = answered(policy, request, query, self.challenges, time.time())
        flow.metadata[VERDICT] = Verdict(Action.CHALLENGE, check.rule or ANSWER_RULE)
        flow.metadata[OUTCOME] = result.outcome
        flow.metadata.setdefault(EXTRA, {})["challenge"] = dict(result.detail)
        if result.reference:
            flow.metadata[REFERENCE] = result.reference
        flow.response = _response(result, head=flow.request.method == "HEAD")

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        cookies = flow.request.headers.get_all("cookie")
        if not any(COOKIE in value for value in cookies):
            return
        kept = [_without_ours(value) for value in cookies]
        flow.request.headers.set_all("cookie", [value for value in kept if value])


def _without_ours(header: str) -> str:
    parts = [part.strip() for part in header.split(";")]
    return "; ".join(p for p in parts if p and p.partition("=")[0].strip() != COOKIE)
