"""Charge: a crawler let through at a price gets `crawler-charged`, and the ledger an entry.

The header goes on in responseheaders (before a streamed body). The ledger entry
is written in `response`, and only for a 2xx answer: a crawler is not charged for
an error.
"""

from __future__ import annotations

from collections.abc import Awaitable

from mitmproxy import http

from proxy.decision.paycrawl import CHARGED as CHARGED_HEADER
from proxy.engine.pipeline import CHARGED, CLASSIFICATION, REQUEST, VERDICT, Pipeline
from proxy.evidence.ledger import ledger_entry
from proxy.prices import format_price


class Charge:
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        price = flow.metadata.get(CHARGED)
        if price is not None and flow.response is not None:
            flow.response.headers[CHARGED_HEADER] = format_price(price)

    def response(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        price = flow.metadata.get(CHARGED)
        ledger = self.pipeline.ledger
        if price is None or ledger is None or flow.response is None:
            return None
        if not 200 <= flow.response.status_code < 300:
            return None
        found = flow.metadata[CLASSIFICATION]
        rule = flow.metadata[VERDICT].rule
        ledger.write(
            ledger_entry(flow.request.timestamp_start, flow.metadata[REQUEST], found, rule, price)
        )
        shared = self.pipeline.shared
        if shared is None:
            return None
        # The ledger is this process's evidence; the shared count is every process's total.
        return shared.count_charge(rule, found.agent.name if found.agent else "", price)
