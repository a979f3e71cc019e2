"""Robots: serve the site's robots.txt merged with the reservation.

The request goes to the upstream as usual; its answer (body and status) is
merged in `response`. The body is always buffered (robots.txt is small, and the
merge needs all of it); responseheaders runs before Signals, which would
otherwise stream a text/plain body.
"""

from __future__ import annotations

from mitmproxy import http

from proxy.pipeline import BUFFER, NOTES, REQUEST, RULESET, SERVED, Pipeline
from proxy.robots import merge

ROBOTS_PATH = "/robots.txt"


class Robots:
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        response = self._robots_response(flow)
        if response is not None:
            flow.metadata[BUFFER] = True
            response.stream = False

    def response(self, flow: http.HTTPFlow) -> None:
        response = self._robots_response(flow)
        if response is None or flow.metadata.get(BUFFER) is not True:
            return
        try:
            body = response.content
        except ValueError:  # an undecodable Content-Encoding: as good as unreadable
            body = None
        policy = flow.metadata[RULESET].robots(flow.metadata[REQUEST].host)
        merged = merge(body, response.status_code if body is not None else None, policy)
        response.status_code = merged.status
        response.headers.pop("content-encoding", None)
        response.headers["content-type"] = "text/plain; charset=utf-8"
        body = merged.text.encode()
        response.content = b"" if flow.request.method == "HEAD" else body
        flow.metadata[NOTES] = merged.notes
        flow.metadata[SERVED] = ("robots.txt", body)

    def _robots_response(self, flow: http.HTTPFlow) -> http.Response | None:
        """The upstream's answer to a robots.txt request, or None for any other flow."""
        request = flow.metadata.get(REQUEST)
        if request is None or request.path != ROBOTS_PATH:
            return None
        return flow.response if flow.request.method in ("GET", "HEAD") else None
