"""Classify: which agent the request claims to be (requestheaders, before any body)."""

from __future__ import annotations

import ipaddress

from mitmproxy import http

from proxy.classify import classify
from proxy.model import RequestInfo
from proxy.pipeline import CLASSIFICATION, REQUEST, RULESET, Pipeline


class Classify:
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        ruleset = self.pipeline.ruleset
        request = request_info(flow)
        flow.metadata[RULESET] = ruleset
        flow.metadata[REQUEST] = request
        flow.metadata[CLASSIFICATION] = classify(ruleset.catalogue, request)


def request_info(flow: http.HTTPFlow) -> RequestInfo:
    req = flow.request
    path, _, _ = req.path.partition("?")
    host = req.host_header or ""
    return RequestInfo(
        method=req.method,
        host=_strip_port(host),
        path=path or "/",
        user_agent=req.headers.get("user-agent", ""),
        client_ip=client_ip(flow),
        accept=req.headers.get("accept", ""),
    )


def client_ip(flow: http.HTTPFlow) -> str:
    peer = flow.client_conn.peername
    if not peer:
        return ""
    try:
        address = ipaddress.ip_address(peer[0])
    except ValueError:
        return str(peer[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return str(address.ipv4_mapped)
    return str(address)


def _strip_port(host: str) -> str:
    if host.startswith("["):
        return host[1 : host.find("]")].lower() if "]" in host else host.lower()
    return host.rsplit(":", 1)[0].lower() if host.count(":") == 1 else host.lower()
