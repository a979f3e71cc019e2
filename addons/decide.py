"""Decide and act: apply the first matching rule; refusals are answered here.

The proxy answers blocks (403), missing licences (401), payment (402, or 400/403
for unusable price headers) and throttling (429) itself, in requestheaders,
before any body is read, so the upstream never sees those requests (and, with
the lazy connection strategy, is not even connected to). A valid licence, an
accepted price or a request under the rate goes through.

In shadow mode (`enforce: false` in the policy, or `--shadow`) a refusal is
decided but not applied: the request goes to the upstream under the verdict
`allow`/`shadow`, and the verdict it escaped is kept on the flow (SHADOW) for the
log and the metrics. Counting it as allowed keeps summaries of `event.action`
true to what the site actually served.
"""

from __future__ import annotations

import time

from mitmproxy import http
from mitmproxy.net.http.status_codes import RESPONSES

from proxy.decision.act import Answer, Buckets, answer
from proxy.decision.decide import decide
from proxy.engine.pipeline import (
    CHARGED,
    CLASSIFICATION,
    LICENCE,
    OUTCOME,
    REQUEST,
    RULESET,
    SHADOW,
    VERDICT,
    Pipeline,
)
from proxy.model import Action, Verdict

SHADOWED = Verdict(Action.ALLOW, "shadow")


class Decide:
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.buckets = Buckets()

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live or REQUEST not in flow.metadata:
            return
        ruleset = flow.metadata[RULESET]
        policy = ruleset.policy
        request = flow.metadata[REQUEST]
        found = flow.metadata[CLASSIFICATION]
        headers = flow.request.headers
        check = policy.licences.check(
            headers.get("authorization"), found.name, request.path, time.time()
        )
        flow.metadata[LICENCE] = check
        verdict = decide(policy, request, found, check)
        if verdict.action is not Action.ALLOW and (self.pipeline.shadow or not policy.enforce):
            flow.metadata[SHADOW] = verdict
            verdict = SHADOWED
        flow.metadata[VERDICT] = verdict
        result = answer(policy, verdict, request, found, headers.get, check, self.buckets)
        flow.metadata[OUTCOME] = result.outcome
        if isinstance(result, Answer):
            flow.response = _response(result)
        elif result.charged is not None:
            flow.metadata[CHARGED] = result.charged


def _response(result: Answer) -> http.Response:
    """The proxy's own answer, built directly: Response.make re-checks what is known here."""
    fields = [(k.encode(), v.encode()) for k, v in result.headers]
    fields.append((b"cache-control", b"no-store"))
    fields.append((b"content-length", b"%d" % len(result.body)))
    now = time.time()
    reason = RESPONSES.get(result.status, "").encode()
    return http.Response(
        b"HTTP/1.1", result.status, reason, http.Headers(fields), result.body, None, now, now
    )
