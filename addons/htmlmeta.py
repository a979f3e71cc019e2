"""HtmlMeta: put the reservation meta tags into buffered HTML pages (response).

Only bodies Signals chose to buffer get here (text/html under the size limit);
streamed bodies keep only the header signals. gzip, deflate, br and zstd bodies
are decoded with a cap on the *decoded* size (`DECODED_LIMIT`; a compression bomb
stops there) and re-encoded with the same Content-Encoding. A body over the cap,
cut short or undecodable passes through as the origin sent it, with a note in
the log; the header signals are on it either way.

Large or compressed pages are decoded, edited and re-encoded in a worker thread
(`proxy.signals.codings` is thread-safe), so one page never holds up the event
loop. A rewritten body is no longer the origin's representation: its strong
ETag becomes weak and digests of the original (Content-MD5, Digest, Repr-Digest)
are dropped. Partial content (206 or any Content-Range) is never rewritten, and a
HEAD answer loses the Content-Length that GET's rewritten page would contradict
(RFC 9110 §8.6).
"""

from __future__ import annotations

import asyncio

from mitmproxy import http

from proxy.engine.pipeline import NOTES, RESERVED, RULESET, SIGNALS, VERDICT, Pipeline
from proxy.model import Action
from proxy.signals import codings
from proxy.signals.htmlmeta import MetaTags, inject

DECODED_LIMIT = 8 * 1024 * 1024  # decoded bytes of a page that may be rewritten
INLINE_LIMIT = 64 * 1024  # identity pages up to this size are edited on the event loop
STALE_DIGESTS = ("content-md5", "digest", "repr-digest")


class HtmlMeta:
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    async def response(self, flow: http.HTTPFlow) -> None:
        response = flow.response
        if response is None or not _is_html(flow, response):
            return
        tags = flow.metadata[RULESET].meta(flow.metadata[RESERVED])
        if tags is None or _is_partial(response):
            return
        if flow.request.method == "HEAD":
            _as_rewritten_head(response)
            return
        if response.stream or response.raw_content is None:
            return
        raw = response.raw_content
        coding = response.headers.get("content-encoding", "")
        charset = _charset(response.headers.get("content-type", ""))
        if coding.strip().lower() in codings.IDENTITY and len(raw) <= INLINE_LIMIT:
            new_raw, notes = rewrite(raw, coding, charset, tags)
        else:
            new_raw, notes = await asyncio.to_thread(rewrite, raw, coding, charset, tags)
        if new_raw is not None:
            response.raw_content = new_raw
            if "transfer-encoding" not in response.headers:
                response.headers["content-length"] = str(len(new_raw))
            _as_rewritten(response)
        if notes:
            flow.metadata[NOTES] = notes


def rewrite(
    raw: bytes, coding: str, charset: str | None, tags: MetaTags
) -> tuple[bytes | None, tuple[str, ...]]:
    """The new raw body (None: leave it as sent) and notes for the log. Pure; runs anywhere."""
    try:
        decoded = codings.decode(raw, coding, DECODED_LIMIT)
    except ValueError:
        return None, ("undecodable Content-Encoding: page passed untouched",)
    if decoded.over_limit:
        return None, (f"page decodes to over {DECODED_LIMIT} bytes: passed as sent",)
    if not decoded.ended:
        return None, ("compressed page is cut short: passed untouched",)
    if not decoded.body:
        return None, ()
    result = inject(decoded.body, charset, tags)
    if not result.changed:
        return None, result.notes
    return codings.encode(result.body, coding), result.notes


def _is_html(flow: http.HTTPFlow, response: http.Response) -> bool:
    verdict = flow.metadata.get(VERDICT)
    return (
        SIGNALS in flow.metadata
        and RESERVED in flow.metadata
        and (verdict is None or verdict.action is not Action.BLOCK)
        and response.headers.get("content-type", "").lower().startswith("text/html")
    )


def _is_partial(response: http.Response) -> bool:
    """Part of a page: inserting into it would corrupt what the client assembles."""
    return response.status_code == 206 or "content-range" in response.headers


def _as_rewritten(response: http.Response) -> None:
    etag = response.headers.get("etag")
    if etag is not None and not etag.lstrip().startswith("W/"):
        response.headers["etag"] = "W/" + etag.strip()
    for name in STALE_DIGESTS:
        response.headers.pop(name, None)


def _as_rewritten_head(response: http.Response) -> None:
    """HEAD describes what GET would send: a rewritten page, of a length we cannot know."""
    _as_rewritten(response)
    response.headers.pop("content-length", None)


def _charset(content_type: str) -> str | None:
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"') or None
    return None
