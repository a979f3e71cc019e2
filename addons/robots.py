"""Robots: serve the site's robots.txt merged with the reservation.

The request goes to the upstream as usual; its answer (body and status) is
merged. responseheaders runs before Signals, which would otherwise stream a
text/plain body. A HEAD is sent upstream as GET, so its answer carries the
length GET's merged file has, and the log names the same served file.

How much of the upstream's file is read is capped, since a robots.txt can be
anything from a few lines to an endless stream. A body announced at no more
than `READ_LIMIT` bytes (and every HEAD) is buffered and merged in `response`,
as before. Any other (larger, or of unknown length) streams through a capture
that keeps the first `READ_LIMIT` bytes and discards the rest as it arrives;
the merged file (status 200, chunked) is sent when the upstream's body ends.
Memory stays bounded whatever the upstream sends; the rest is still read, so
the upstream connection stays usable. The merge itself caps what it serves at
`proxy.signals.robotstxt.merge`'s limit (500 KiB), our reservation first. A cut is noted
in the log. gzip, deflate, br and zstd bodies are decoded with the same bound on
the decoded size (`proxy.signals.codings`: a compression bomb stops there), and
the start of a cut compressed body is read like the start of a plain one.
"""

from __future__ import annotations

from collections.abc import Callable

from mitmproxy import http

from proxy.engine.pipeline import BUFFER, BYTES, NOTES, REQUEST, RULESET, SERVED, Pipeline
from proxy.signals import codings
from proxy.signals.robotstxt import MergedRobots, merge

ROBOTS_PATH = "/robots.txt"
READ_LIMIT = 1024 * 1024  # bytes of the upstream's file read, before and after decoding
CAPTURE = "optout.robots_capture"
HEAD_AS_GET = "optout.robots_head"  # a HEAD sent upstream as GET, so it is merged like one


class Robots:
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def request(self, flow: http.HTTPFlow) -> None:
        """HEAD must describe what GET serves, so the upstream is asked for its file."""
        if flow.response or flow.error or not flow.live:
            return
        request = flow.metadata.get(REQUEST)
        if request is not None and request.path == ROBOTS_PATH and flow.request.method == "HEAD":
            flow.request.method = "GET"
            flow.metadata[HEAD_AS_GET] = True

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if flow.metadata.get(HEAD_AS_GET):
            flow.request.method = "HEAD"  # what the client asked: no body goes back
        response = self._robots_response(flow)
        if response is None:
            return
        flow.metadata[BUFFER] = True
        if _announced_small(response):
            response.stream = False
            return
        capture = Capture(response.status_code, response.headers.get("content-encoding", ""))
        capture.send = flow.request.method != "HEAD"
        capture.merge = lambda body, status, notes: self._merge(flow, body, status, notes)
        flow.metadata[CAPTURE] = capture
        response.status_code = 200
        response.reason = "OK"
        for name in ("content-length", "content-encoding"):
            response.headers.pop(name, None)
        response.headers["transfer-encoding"] = "chunked"
        response.headers["content-type"] = "text/plain; charset=utf-8"
        response.stream = capture

    def response(self, flow: http.HTTPFlow) -> None:
        response = self._robots_response(flow)
        if response is None or flow.metadata.get(BUFFER) is not True:
            return
        if CAPTURE in flow.metadata:
            return  # served by the capture when the body ended
        coding = response.headers.get("content-encoding", "").strip().lower()
        body, notes = decode_capped(response.raw_content or b"", coding, cut=False)
        merged = self._merge(flow, body, response.status_code, notes)
        response.status_code = merged.status
        response.headers.pop("content-encoding", None)
        response.headers["content-type"] = "text/plain; charset=utf-8"
        response.content = merged.text.encode()
        if flow.request.method == "HEAD":  # the length GET gets, and no body
            response.raw_content = b""

    def _merge(
        self, flow: http.HTTPFlow, body: bytes | None, status: int, notes: tuple[str, ...]
    ) -> MergedRobots:
        """Merge (an unreadable body counts as an unreachable upstream) and note it for the log."""
        policy = flow.metadata[RULESET].robots(flow.metadata[REQUEST].host)
        merged = merge(body, status if body is not None else None, policy)
        served = merged.text.encode()
        flow.metadata[NOTES] = (*notes, *merged.notes)
        flow.metadata[SERVED] = ("robots.txt", served)
        flow.metadata[BYTES] = len(served)
        return merged

    def _robots_response(self, flow: http.HTTPFlow) -> http.Response | None:
        """The upstream's answer to a robots.txt request, or None for any other flow."""
        request = flow.metadata.get(REQUEST)
        if request is None or request.path != ROBOTS_PATH:
            return None
        return flow.response if flow.request.method in ("GET", "HEAD") else None


def _announced_small(response: http.Response) -> bool:
    length = response.headers.get("content-length", "")
    chunked = "chunked" in response.headers.get("transfer-encoding", "").lower()
    return not chunked and length.isdigit() and int(length) <= READ_LIMIT


class Capture:
    """A stream callable: keeps the first READ_LIMIT bytes, sends the merge at the end."""

    def __init__(self, status: int, coding: str) -> None:
        self.status = status
        self.coding = coding.strip().lower()
        self.kept = bytearray()
        self.cut = False
        self.done = False
        self.send = True  # False for HEAD: merge (for the log), send nothing
        self.merge: Callable[[bytes | None, int, tuple[str, ...]], MergedRobots] | None = None

    def __call__(self, data: bytes) -> list[bytes]:
        """Nothing to send until the end (an empty chunk would end a chunked body)."""
        if data:
            room = READ_LIMIT - len(self.kept)
            self.kept += data[: max(room, 0)]
            self.cut = self.cut or len(data) > room
            return []
        if self.done or self.merge is None:
            return []
        self.done = True
        body, notes = decode_capped(bytes(self.kept), self.coding, self.cut)
        self.kept = bytearray()
        merged, self.merge = self.merge(body, self.status, notes), None
        return [merged.text.encode()] if self.send else []


def decode_capped(raw: bytes, coding: str, cut: bool) -> tuple[bytes | None, tuple[str, ...]]:
    """The readable start of a body of which `raw` is the first bytes; None if unreadable."""
    notes = (
        (f"upstream robots.txt over {READ_LIMIT} bytes: only its start was read",) if cut else ()
    )
    if coding in codings.IDENTITY:
        return (_whole_lines(raw) if cut else raw), notes
    try:
        decoded = codings.decode(raw, coding, READ_LIMIT)
    except ValueError:
        return None, (*notes, f"undecodable Content-Encoding {coding}")
    if decoded.over_limit:
        notes = (f"decoded robots.txt over {READ_LIMIT} bytes: only its start was read",)
    if decoded.complete:
        return decoded.body, notes
    return _whole_lines(decoded.body), notes


def _whole_lines(text: bytes) -> bytes:
    """Drop a line cut in the middle: half a rule could mean something else."""
    end = text.rfind(b"\n")
    return text[: end + 1] if end >= 0 else b""
