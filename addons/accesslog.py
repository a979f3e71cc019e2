"""AccessLog: one record per request, for answered, blocked and failed requests alike.

`response` also fires for responses the proxy made itself (blocks), and `error`
covers upstream failures; a flow is logged once. A head refused before it was
parsed (400, 414, 431) has no flow: `log_refusal` logs it from what was read. Client
addresses of requests that name no agent are pseudonymised as configured
(crawler requests keep theirs: that is the evidence), and each reservation
document served is kept once, by content hash, in the state directory.
"""

from __future__ import annotations

import time
from typing import Any

from mitmproxy import http

from addons.classify import peer_ip, request_info
from proxy.engine.pipeline import (
    BYTES,
    CHARGED,
    CLASSIFICATION,
    EXTRA,
    LICENCE,
    LOGGED,
    NOTES,
    OUTCOME,
    REFERENCE,
    REQUEST,
    SCORE,
    SERVED,
    SHADOW,
    SIGNALS,
    VERDICT,
    Pipeline,
)
from proxy.evidence.headerset import header_set
from proxy.evidence.privacy import apply_privacy
from proxy.evidence.rawhead import head_info
from proxy.evidence.record import act_fields, build_record
from proxy.identity.classify import UNKNOWN, classify

_REFUSALS = {
    400: "malformed request head",
    414: "request line too long",
    431: "request header fields too large",
}


class AccessLog:
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def response(self, flow: http.HTTPFlow) -> None:
        self._log(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._log(flow)

    def _log(self, flow: http.HTTPFlow) -> None:
        if flow.metadata.get(LOGGED):
            return
        flow.metadata[LOGGED] = True
        response = flow.response
        body_bytes = flow.metadata.get(BYTES)
        if body_bytes is None and response is not None and response.raw_content is not None:
            body_bytes = len(response.raw_content)
        if response is not None and flow.request.method == "HEAD":
            body_bytes = 0  # no body goes out, whatever GET's would be (nginx's $body_bytes_sent)
        end = (response.timestamp_end if response else None) or time.time()
        _, _, query = flow.request.path.partition("?")
        record = build_record(
            started=flow.request.timestamp_start,
            duration_ns=int((end - flow.request.timestamp_start) * 1e9),
            request=flow.metadata.get(REQUEST) or request_info(flow),
            found=flow.metadata.get(CLASSIFICATION, UNKNOWN),
            verdict=flow.metadata.get(VERDICT),
            status=response.status_code if response else None,
            body_bytes=body_bytes,
            signals=flow.metadata.get(SIGNALS, ()) if response else (),
            error=flow.error.msg if flow.error else None,
            query=query,
            notes=flow.metadata.get(NOTES, ()),
            shadow=flow.metadata.get(SHADOW),
            request_id=flow.metadata.get(REFERENCE),
            score=flow.metadata.get(SCORE),
            act=act_fields(
                flow.metadata.get(OUTCOME),
                flow.metadata.get(VERDICT),
                flow.metadata.get(LICENCE),
                flow.metadata.get(CHARGED) if _succeeded(response) else None,
            ),
        )
        self._evidence(flow, record)
        record["optout"].update(flow.metadata.get(EXTRA, {}))
        _write(self.pipeline, record)

    def _evidence(self, flow: http.HTTPFlow, record: dict[str, Any]) -> None:
        """Which version of robots.txt, tdmrep.json or ai.txt this response was."""
        served = flow.metadata.get(SERVED)
        store = self.pipeline.documents
        if served is not None and store is not None:
            kind, body = served
            record["optout"]["served"] = {"kind": kind, "sha256": store.put(body, kind)}
        sets, response = self.pipeline.headersets, flow.response
        if sets is not None and response is not None and flow.metadata.get(SIGNALS):
            shown = header_set(flow.metadata[SIGNALS], response.headers.get_all)
            if shown:  # the exact reservation headers, kept once per distinct set
                record["optout"]["headers_served"] = {"sha256": sets.put(shown, "header set")}


def log_refusal(pipeline: Pipeline, peer: Any, status: int, head: bytes) -> None:
    """Log (and count) a request refused before it was parsed: 400, 408, 414 or 431.

    The engine calls this from its patched head reader (`proxy.engine.patches`);
    there is no flow, so the record is made from what was read of the head.
    """
    request, query = head_info(head, peer_ip(peer))
    ruleset = pipeline.ruleset
    found = classify(ruleset.catalogue, request)
    record = build_record(
        started=time.time(),
        duration_ns=0,
        request=request,
        found=found,
        verdict=None,
        status=status,
        body_bytes=None,
        signals=ruleset.headers(True).names,  # the refusal page carries the reservation
        error=_REFUSALS.get(status, "request head refused"),
        query=query,
        act={"outcome": "refused"},
    )
    _write(pipeline, record)
    pipeline.metrics.request(found, None, status, 0.0)


def _write(pipeline: Pipeline, record: dict[str, Any]) -> None:
    if pipeline.privacy != "off":
        apply_privacy(record, pipeline.pseudonymiser, pipeline.privacy)
    pipeline.log.write(record)


def _succeeded(response: http.Response | None) -> bool:
    """A charge counts only for a 2xx answer, as in the ledger."""
    return response is not None and 200 <= response.status_code < 300
