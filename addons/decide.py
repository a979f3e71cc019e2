"""Decide and act: apply the first matching rule; refusals are answered here.

The proxy answers blocks (403), missing licences (401), payment (402, or 400/403
for unusable price headers), throttling (429) and challenges (the proof-of-work
page of proxy.decision.challengegate, cookies checked against `challenges`)
itself, in requestheaders, before any body is read, so the upstream never sees
those requests (and, with the lazy connection strategy, is not even connected to).
A valid licence, an accepted price, a request under the rate or a passed
challenge's cookie goes through.

The decision itself (licence, rules, shadow mode, act) is
proxy.decision.request's, which `optout classify` calls too. In shadow mode the
verdict a refusal escaped is kept on the flow (SHADOW) for the log and the
metrics.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Hashable

from mitmproxy import http
from mitmproxy.net.http.status_codes import RESPONSES

from proxy.decision import blockpage
from proxy.decision.act import Answer, Buckets, Deferred, throttled
from proxy.decision.challenge import Challenges
from proxy.decision.request import Decision, decide_request
from proxy.engine.pipeline import (
    CHARGED,
    CLASSIFICATION,
    EXTRA,
    LICENCE,
    OUTCOME,
    REFERENCE,
    REQUEST,
    RULESET,
    SCORE,
    SHADOW,
    VERDICT,
    Pipeline,
)
from proxy.store.shared import bucket_name

_Asked = tuple[str, tuple[float, int], Hashable]  # rule, rate, key: what a throttle takes from


class Decide:
    def __init__(self, pipeline: Pipeline, challenges: Challenges | None = None) -> None:
        self.pipeline = pipeline
        self.buckets = Buckets()
        self.challenges = challenges  # keys and spent answers, shared with addons/challenge.py

    def requestheaders(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        """Decided now; with a shared store a throttled request awaits its token first."""
        if flow.response or flow.error or not flow.live or REQUEST not in flow.metadata:
            return None
        deferred = Deferred() if self.pipeline.shared is not None else None
        decision = decide_request(
            flow.metadata[RULESET].policy,
            flow.metadata[REQUEST],
            flow.metadata[CLASSIFICATION],
            flow.request.headers.get,
            shadow=self.pipeline.shadow,
            buckets=self.buckets if deferred is None else deferred,
            now=time.time(),
            challenges=self.challenges,
        )
        if deferred is not None and deferred.asked is not None:
            return self._shared_take(flow, decision, deferred.asked)
        _apply(flow, decision)
        return None

    async def _shared_take(
        self,
        flow: http.HTTPFlow,
        decision: Decision,
        asked: tuple[str, tuple[float, int], Hashable],
    ) -> None:
        """The throttle's token from the shared store; refused, the 429 replaces the pass."""
        shared = self.pipeline.shared
        assert shared is not None  # noqa: S101 - only called when there is one
        rule, rate, key = asked
        result = await shared.take(bucket_name(rule, rate, key), *rate)
        if not result.allowed:
            policy = flow.metadata[RULESET].policy
            html = blockpage.wants_html(flow.metadata[REQUEST].accept)
            refusal = throttled(policy, decision.verdict, result.retry_after, html)
            decision = dataclasses.replace(decision, act=refusal)
        _apply(flow, decision)


def _apply(flow: http.HTTPFlow, decision: Decision) -> None:
    flow.metadata[LICENCE] = decision.licence
    if decision.shadow is not None:
        flow.metadata[SHADOW] = decision.shadow
    flow.metadata[VERDICT] = decision.verdict
    flow.metadata[SCORE] = decision.score
    result = decision.act
    flow.metadata[OUTCOME] = result.outcome
    if result.detail:
        flow.metadata.setdefault(EXTRA, {})["challenge"] = dict(result.detail)
    if isinstance(result, Answer):
        flow.response = _response(result, head=flow.request.method == "HEAD")
        if result.reference:
            flow.metadata[REFERENCE] = result.reference
    elif result.charged is not None:
        flow.metadata[CHARGED] = result.charged


def _response(result: Answer, head: bool = False) -> http.Response:
    """The proxy's own answer, built directly: Response.make re-checks what is known here.

    An answer to HEAD has GET's headers and no body: mitmproxy would send the body,
    and a kept-alive client would read it as the next response.
    """
    fields = [(k.encode(), v.encode()) for k, v in result.headers]
    fields.append((b"cache-control", b"no-store"))
    fields.append((b"content-length", b"%d" % len(result.body)))
    now = time.time()
    reason = RESPONSES.get(result.status, "").encode()
    body = b"" if head else result.body
    return http.Response(
        b"HTTP/1.1", result.status, reason, http.Headers(fields), body, None, now, now
    )
