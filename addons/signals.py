"""Signals: put the reservation headers on every response, and choose what streams.

Headers are only editable in responseheaders: once a body streams, the headers
are already on the wire. HTML under the size limit is buffered (a later step
injects meta tags into it); every other body streams through a byte counter, so
memory stays flat under large downloads.
"""

from __future__ import annotations

from collections.abc import Callable

from mitmproxy import http

from proxy.engine.pipeline import BUFFER, BYTES, RESERVED, RULESET, SIGNALS, Pipeline
from proxy.signals import c2palink
from proxy.signals import headers as signals


class Signals:
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        response = flow.response
        if response is None:
            return
        ruleset = flow.metadata.get(RULESET, self.pipeline.ruleset)
        headers = response.headers
        path = flow.request.path.partition("?")[0]
        reserved = ruleset.policy.reservation.resolve(path, headers.get("content-type"))
        chosen = ruleset.headers(reserved)
        merged = signals.added_fields(chosen, headers.fields)
        if merged is not None:
            headers.fields = merged
        else:
            signals.apply(chosen, headers.get, headers.__setitem__, headers.add)
        flow.metadata[RESERVED] = reserved
        flow.metadata[SIGNALS] = chosen.names
        if path in ruleset.media_manifests and response.status_code in (200, 206):
            headers.add("link", c2palink.link_value(path))
            flow.metadata[SIGNALS] = (*chosen.names, "link-c2pa-manifest")
        if flow.metadata.get(BUFFER):
            return
        if response.raw_content is None and (response.stream or not self._buffer(response)):
            # raw_content is set only for responses the proxy made itself (blocks).
            response.stream = _counter(flow)

    def _buffer(self, response: http.Response) -> bool:
        content_type = response.headers.get("content-type", "").lower()
        if not content_type.startswith("text/html"):
            return False
        length = response.headers.get("content-length", "")
        return not length.isdigit() or int(length) <= self.pipeline.html_limit


def _counter(flow: http.HTTPFlow) -> Callable[[bytes], bytes]:
    flow.metadata[BYTES] = 0

    def count(chunk: bytes) -> bytes:
        flow.metadata[BYTES] += len(chunk)
        return chunk

    return count
