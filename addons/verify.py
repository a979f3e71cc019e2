"""Verify: is the claimed agent really who it says (requestheaders, before deciding).

Most requests are answered without waiting: no agent claimed, an IP-range hit,
or nothing to look up. Only a claim that needs reverse DNS or a signature key
returns an awaitable, which mitmproxy awaits before the next addon decides. A
signed request that names no agent in its User-Agent (an agent browsing with a
normal browser string) is identified by its Signature-Agent.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable

from mitmproxy import http

from proxy.engine.pipeline import CLASSIFICATION, REQUEST, RULESET, SIGNED, Pipeline
from proxy.identity import webbotauth
from proxy.identity.verify import Identification, Verifier
from proxy.model import Agent, Classification, Identity


class Verify:
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def requestheaders(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        verifier = self.pipeline.verifier
        if verifier is None or flow.response or flow.error or REQUEST not in flow.metadata:
            return None
        found: Classification = flow.metadata[CLASSIFICATION]
        if found.identity is Identity.UNDECLARED:
            return None  # the address is in the range: verifying would call it verified
        signed = _signed(flow) if "signature-input" in flow.request.headers else None
        flow.metadata[SIGNED] = signed
        if found.agent is None and signed is not None and signed.agent is not None:
            agent = flow.metadata[RULESET].catalogue.by_signature_agent(signed.agent)
            if agent is not None:
                return self._by_signature(flow, verifier, signed, found, agent)
        quick = verifier.quick(found.agent, flow.metadata[REQUEST].client_ip, signed)
        if quick is not None:
            _record(flow, found, quick)
            return None
        return self._identify(flow, verifier, found, signed)

    async def _identify(
        self,
        flow: http.HTTPFlow,
        verifier: Verifier,
        found: Classification,
        signed: webbotauth.SignedRequest | None,
    ) -> None:
        result = await verifier.identify(found.agent, flow.metadata[REQUEST].client_ip, signed)
        _record(flow, found, result)

    async def _by_signature(
        self,
        flow: http.HTTPFlow,
        verifier: Verifier,
        signed: webbotauth.SignedRequest,
        found: Classification,
        agent: Agent,
    ) -> None:
        result = await verifier.signature(signed)
        if result.ok:
            method = f"web-bot-auth:{result.agent}"
            flow.metadata[CLASSIFICATION] = Classification(agent, Identity.VERIFIED, method)
        else:
            failure = f"web bot auth: {result.reason}"
            flow.metadata[CLASSIFICATION] = dataclasses.replace(found, failure=failure)


def _record(flow: http.HTTPFlow, found: Classification, result: Identification) -> None:
    if result.identity is not found.identity or result.method or result.failure:
        flow.metadata[CLASSIFICATION] = Classification(
            found.agent, result.identity, result.method, result.failure
        )


def _signed(flow: http.HTTPFlow) -> webbotauth.SignedRequest | None:
    request = flow.request
    scheme = "https" if flow.client_conn.tls_established else "http"
    return webbotauth.parse_request(
        request.headers, request.method, request.host_header or "", request.path, scheme
    )
