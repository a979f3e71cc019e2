"""HtmlMeta: put the reservation meta tags into buffered HTML pages (response).

Only bodies Signals chose to buffer get here (text/html under the size limit);
streamed bodies keep only the header signals. gzip, deflate, br and zstd bodies
are decoded and re-encoded with the same Content-Encoding; a body whose encoding
is broken passes through untouched, with a note in the log.
"""

from __future__ import annotations

from mitmproxy import http

from proxy.engine.pipeline import NOTES, RESERVED, RULESET, SIGNALS, VERDICT, Pipeline
from proxy.model import Action
from proxy.signals.htmlmeta import inject


class HtmlMeta:
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def response(self, flow: http.HTTPFlow) -> None:
        response = flow.response
        if response is None or not self._applies(flow, response):
            return
        tags = flow.metadata[RULESET].meta(flow.metadata[RESERVED])
        if tags is None:
            return
        try:
            body = response.content
        except ValueError:
            flow.metadata[NOTES] = ("undecodable Content-Encoding: page passed untouched",)
            return
        if not body:
            return
        result = inject(body, _charset(response.headers.get("content-type", "")), tags)
        if result.changed:
            response.content = result.body
        if result.notes:
            flow.metadata[NOTES] = result.notes

    @staticmethod
    def _applies(flow: http.HTTPFlow, response: http.Response) -> bool:
        verdict = flow.metadata.get(VERDICT)
        return (
            SIGNALS in flow.metadata
            and RESERVED in flow.metadata
            and not response.stream
            and response.raw_content is not None
            and flow.request.method != "HEAD"
            and (verdict is None or verdict.action is not Action.BLOCK)
            and response.headers.get("content-type", "").lower().startswith("text/html")
        )


def _charset(content_type: str) -> str | None:
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"') or None
    return None
