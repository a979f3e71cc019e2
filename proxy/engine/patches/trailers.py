"""Accept a chunked message with trailer fields, and drop the trailers.

mitmproxy raises NotImplementedError when a chunked request or response ends
in trailer fields (`Http1Connection.read_body`): the request got no answer and
no record, its connection hung, and its memory was never freed (issue 15,
finding 7). h11 still parses (and checks) the trailers; we drop them from the
end of the message, in both directions, so the engine goes on as for a message
without trailers.

Dropped rather than forwarded: RFC 9110 §6.5.1 lets a recipient discard
trailers, mitmproxy's HTTP/1 writer cannot send them, and fields no rule looked
at should not reach the origin (they could carry what a header check refused).

Upstream: the NotImplementedError is in mitmproxy 12.3.1 as
"HTTP trailers are not implemented yet."; no issue or PR found for HTTP/1.
"""

from __future__ import annotations

import functools
from typing import Any

import h11
from mitmproxy.proxy.layers.http import _http1

from proxy.engine.patches.checks import Patch, Target
from proxy.engine.patches.state import PatchState


class NoTrailers:
    """A chunked body reader whose end of message carries no trailer fields."""

    def __init__(self, reader: Any) -> None:
        self.reader = reader

    def __call__(self, buf: Any) -> Any:
        event = self.reader(buf)
        if isinstance(event, h11.EndOfMessage) and event.headers:
            return h11.EndOfMessage()
        return event

    def read_eof(self) -> Any:
        return self.reader.read_eof()


def drop_trailers(make_body_reader: Any, state: PatchState) -> Any:
    @functools.wraps(make_body_reader)
    def made(expected_size: int | None) -> Any:
        reader = make_body_reader(expected_size)
        return NoTrailers(reader) if expected_size is None else reader  # only chunked has any

    return made


PATCH = Patch(
    "trailers dropped",
    Target(
        _http1,
        "make_body_reader",
        used_by=((_http1.Http1Server, "read_headers"), (_http1.Http1Client, "read_headers")),
    ),
    drop_trailers,
)
