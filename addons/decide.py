"""Decide and act: apply the first matching rule; a block is answered here.

A blocked request gets a 403 from the proxy itself in requestheaders, before any
body is read, so the upstream never sees it (and, with the lazy connection
strategy, is not even connected to).

In shadow mode (`enforce: false` in the policy, or `--shadow`) a block is decided
but not applied: the request goes to the upstream under the verdict
`allow`/`shadow`, and the block it escaped is kept on the flow (SHADOW) for the
log and the metrics. Counting it as allowed keeps summaries of `event.action`
true to what the site actually served.
"""

from __future__ import annotations

from mitmproxy import http

from proxy import blockpage
from proxy.decide import decide
from proxy.model import Action, Verdict
from proxy.pipeline import CLASSIFICATION, REQUEST, RULESET, SHADOW, VERDICT, Pipeline

SHADOWED = Verdict(Action.ALLOW, "shadow")


class Decide:
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live or REQUEST not in flow.metadata:
            return
        ruleset = flow.metadata[RULESET]
        request = flow.metadata[REQUEST]
        found = flow.metadata[CLASSIFICATION]
        verdict = decide(ruleset.policy, request, found)
        if verdict.action is Action.BLOCK and (self.pipeline.shadow or not ruleset.policy.enforce):
            flow.metadata[SHADOW] = verdict
            verdict = SHADOWED
        flow.metadata[VERDICT] = verdict
        if verdict.action is Action.BLOCK:
            want_html = blockpage.wants_html(request.accept)
            body, content_type = blockpage.render(ruleset.policy, verdict.rule, found, want_html)
            flow.response = http.Response.make(
                403, body, {"content-type": content_type, "cache-control": "no-store"}
            )
