"""Metrics: count each finished request and observe its latency.

Like the access log it runs on `response` (which also fires for the proxy's own
blocks) and on `error` (upstream failures), and counts a flow once, so the
request counter and the access log agree.
"""

from __future__ import annotations

import time

from mitmproxy import http

from proxy.engine.pipeline import (
    CLASSIFICATION,
    COUNTED,
    EXTRA,
    OUTCOME,
    SHADOW,
    VERDICT,
    Pipeline,
)
from proxy.identity.classify import UNKNOWN


class Metrics:
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def response(self, flow: http.HTTPFlow) -> None:
        self._count(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._count(flow)

    def _count(self, flow: http.HTTPFlow) -> None:
        if flow.metadata.get(COUNTED):
            return
        flow.metadata[COUNTED] = True
        response = flow.response
        end = (response.timestamp_end if response else None) or time.time()
        self.pipeline.metrics.request(
            flow.metadata.get(CLASSIFICATION, UNKNOWN),
            flow.metadata.get(VERDICT),
            response.status_code if response else None,
            end - flow.request.timestamp_start,
            flow.metadata.get(SHADOW),
        )
        outcome = flow.metadata.get(OUTCOME) or ""
        if outcome.startswith("challenge"):
            reason = flow.metadata.get(EXTRA, {}).get("challenge", {}).get("reason", "none")
            self.pipeline.metrics.challenges.labels(outcome, reason).inc()
