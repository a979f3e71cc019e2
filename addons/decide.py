"""Decide and act: apply the first matching rule; refusals are answered here.

The proxy answers blocks (403), missing licences (401), payment (402, or 400/403
for unusable price headers) and throttling (429) itself, in requestheaders,
before any body is read, so the upstream never sees those requests (and, with
the lazy connection strategy, is not even connected to). A valid licence, an
accepted price or a request under the rate goes through.

The decision itself (licence, rules, shadow mode, act) is
proxy.decision.request's, which `optout classify` calls too. In shadow mode the
verdict a refusal escaped is kept on the flow (SHADOW) for the log and the
metrics.
"""

from __future__ import annotations

import time

from mitmproxy import http
from mitmproxy.net.http.status_codes import RESPONSES

from proxy.decision.act import Answer, Buckets
from proxy.decision.request import decide_request
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


class Decide:
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.buckets = Buckets()

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live or REQUEST not in flow.metadata:
            return
        decision = decide_request(
            flow.metadata[RULESET].policy,
            flow.metadata[REQUEST],
            flow.metadata[CLASSIFICATION],
            flow.request.headers.get,
            shadow=self.pipeline.shadow,
            buckets=self.buckets,
            now=time.time(),
        )
        flow.metadata[LICENCE] = decision.licence
        if decision.shadow is not None:
            flow.metadata[SHADOW] = decision.shadow
        flow.metadata[VERDICT] = decision.verdict
        result = decision.act
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
