"""WellKnown: serve the documents rendered from the policy (tdmrep.json, ai.txt, RSL),
and the label's checkpoint public key when `optout logs keygen` made one.

They are answered by the proxy in requestheaders, for every client including
blocked crawlers, and never reach the upstream: the policy is their only source.
"""

from __future__ import annotations

from mitmproxy import http

from proxy.decision.decide import ALWAYS_FREE
from proxy.engine.pipeline import OUTCOME, REQUEST, RULESET, SERVED, VERDICT, Pipeline
from proxy.evidence import signing
from proxy.signals.wellknown import Document


class WellKnown:
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live or REQUEST not in flow.metadata:
            return
        path = flow.metadata[REQUEST].path
        document = flow.metadata[RULESET].documents.get(path)
        if document is None and path == signing.WELL_KNOWN and self.pipeline.checkpoint_key:
            # The key third parties check the log's signed checkpoints with.
            document = Document(self.pipeline.checkpoint_key, "application/x-pem-file")
        if document is None or flow.request.method not in ("GET", "HEAD"):
            return
        flow.metadata[VERDICT] = ALWAYS_FREE
        flow.metadata[OUTCOME] = "allowed"  # as Decide says of every other free path
        kind = flow.metadata[REQUEST].path.rsplit("/", 1)[-1]
        flow.metadata[SERVED] = (kind, document.body)
        flow.response = http.Response.make(
            200,
            b"" if flow.request.method == "HEAD" else document.body,
            {"content-type": document.content_type, "cache-control": "max-age=3600"},
        )
        if flow.request.method == "HEAD":
            flow.response.headers["content-length"] = str(len(document.body))
