"""Edge: the request target and Host in one form, before anything judges them (requestheaders).

The flow's path and Host are rewritten in place (`proxy.edge`), so every later
addon (routing, rules, always-free paths, licence scopes, reservation overrides,
robots.txt, the log) and the upstream see the same normalised request: the path
the rules judged is the path the origin serves. A request that cannot be put in
one form is answered 400 here, with the reservation headers, and logged under
the rule `edge/<reason>` with what could be read of it and the agent it claimed.
"""

from __future__ import annotations

from mitmproxy import http

from addons.classify import request_info
from addons.sites import answer
from proxy.edge import BadRequest, checked_host, normalise_target
from proxy.engine.pipeline import CLASSIFICATION, NOTES, OUTCOME, REQUEST, Pipeline
from proxy.identity.classify import classify


class Edge:
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        # CONNECT has no path; the Sites addon refuses it.
        if flow.response or flow.error or not flow.live or flow.request.method == "CONNECT":
            return
        try:
            normalise(flow.request, "https" if flow.client_conn.tls_established else "http")
        except BadRequest as e:
            refuse(flow, self.pipeline, e)


def normalise(request: http.Request, scheme: str) -> None:
    """Rewrite the request's target and Host in their one form. Raises BadRequest.

    `scheme` is the client's (the request's own is the upstream's in reverse mode).
    """
    data = request.data
    target = normalise_target(data.path, request.method)
    fields = request.headers.get_all("host")
    authority = data.authority.decode("ascii", "replace")
    if authority and not (request.is_http2 or request.is_http3):
        # HTTP/1 absolute-form: its authority replaces the Host (RFC 9112 §3.2.2, as
        # nginx does), so routing, rules and the upstream all see that one host.
        checked_host(fields)  # still one Host field, and a well-formed one
        host = checked_host([], authority)
    else:
        host = checked_host(fields, authority, scheme)
    data.path = bytes(target)
    if fields:
        request.headers["host"] = host
    if data.authority:
        data.authority = host.encode()


def refuse(flow: http.HTTPFlow, pipeline: Pipeline, error: BadRequest) -> None:
    """400, logged with the request as it came (not normalised) and the agent it claimed."""
    ruleset = pipeline.ruleset
    request = request_info(flow)
    flow.metadata[REQUEST] = request
    flow.metadata[CLASSIFICATION] = classify(ruleset.catalogue, request)
    flow.metadata[OUTCOME] = "refused"
    flow.metadata[NOTES] = (str(error),)
    answer(flow, ruleset, error.status, f"edge/{error.reason}", f"Bad request: {error}.\n")
