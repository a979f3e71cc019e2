"""Classify: who the client is and which agent it claims to be (requestheaders).

The client address is the peer, or what trusted proxies in front of us say it
is; the upstream gets an X-Forwarded-For we vouch for, never a client's own. Every
address is looked up in the providers' and crawlers' ranges (`RequestInfo.network`),
whatever the user agent claims: one cached dict hit, or one bisect.
"""

from __future__ import annotations

from typing import Any

from mitmproxy import http

from proxy.engine.pipeline import CLASSIFICATION, REQUEST, RULESET, Pipeline
from proxy.identity.classify import classify
from proxy.identity.clientaddr import client_address, forwarded_for
from proxy.identity.ipranges import parse_address
from proxy.model import RequestInfo
from proxy.requestheaders import host_without_port


class Classify:
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        # The site's rules, chosen by the Sites addon; the pipeline's are the default.
        ruleset = flow.metadata.get(RULESET) or self.pipeline.ruleset
        request = request_info(flow, self.pipeline)
        flow.metadata[RULESET] = ruleset
        flow.metadata[REQUEST] = request
        flow.metadata[CLASSIFICATION] = classify(ruleset.catalogue, request)


def request_info(flow: http.HTTPFlow, pipeline: Pipeline | None = None) -> RequestInfo:
    """The core's view of the request.

    Its path and Host are in the one form the Edge addon wrote (as sent, if it refused them).
    """
    req = flow.request
    path, _, _ = req.path.partition("?")
    host = req.host_header or ""
    client = _client(flow, pipeline)
    ruleset = flow.metadata.get(RULESET) or (pipeline.ruleset if pipeline is not None else None)
    return RequestInfo(
        method=req.method,
        host=host_without_port(host),
        path=path or "/",
        user_agent=req.headers.get("user-agent", ""),
        client_ip=client,
        accept=req.headers.get("accept", ""),
        network=ruleset.networks.lookup(client) if ruleset is not None and client else None,
    )


def _client(flow: http.HTTPFlow, pipeline: Pipeline | None) -> str:
    """The client's address; also rewrites the forwarding headers the upstream gets."""
    peer = client_ip(flow)
    if pipeline is None or not peer:
        return peer
    trusted = pipeline.trusted_proxies
    headers = flow.request.headers
    if not trusted:
        headers["x-forwarded-for"] = peer  # whatever the client wrote is not passed on
        headers.pop("forwarded", None)
        return peer
    fields = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers.fields]
    headers["x-forwarded-for"] = forwarded_for(peer, fields, trusted)
    headers.pop("forwarded", None)  # carried over into X-Forwarded-For where trusted
    return client_address(peer, fields, trusted)


def client_ip(flow: http.HTTPFlow) -> str:
    return peer_ip(flow.client_conn.peername)


def peer_ip(peer: Any) -> str:
    """A connection's peer address as text; IPv4-mapped IPv6 unmapped."""
    if not peer:
        return ""
    address = parse_address(str(peer[0]))
    return str(address) if address is not None else str(peer[0])
