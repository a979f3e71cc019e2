"""What mitmproxy 12 does not do for a public-facing reverse proxy, patched in.

- Request heads are read without a size limit (`_http1.py`: "FIXME: protect
  against header size DoS"): a 64 MB header was accepted. We answer 414 for a
  request line over 8 KiB and 431 for a header section over 16 KiB, as nginx
  does, before the head is parsed or buffered any further. There is no flow
  for such a request, so no addon sees it: the runner's `refused` callback gets
  the client's address, the status and the head as far as it came, for the log.
- The engine's own error pages (502 when the upstream is down, 400 for a bad
  request) name the engine (`Server: mitmproxy`) and leak the upstream's
  address and errno. Ours say what happened, in a sentence, and nothing else;
  they still carry the reservation headers.
- An engine error page is sent without the `response` hook, so the flow has no
  response and the access log would record no status. When the client is about
  to get one of our pages, the flow gets it as its response (before the `error`
  hook), so the record and the metrics say 502, 504 or 413, as the client saw.
- There is no upstream timeout, only an idle one (600 s). `addons.limits` closes
  the upstream connection of a flow whose response headers are late and marks
  the flow (`TIMED_OUT`); the engine then sees "server closed connection", which
  we turn into "upstream timeout" and a 504 page.
- `body_size_limit` limits request *and* response bodies, so it would cut the
  site's large downloads, and it stops checking once a body streams. Request
  bodies are limited here instead, by the `optout_max_body` option that
  `addons.limits` declares: a known Content-Length over it is refused before the
  body is read, and a body of unknown length is refused when it gets there,
  streaming or not (413; the upstream request, if started, is aborted).

- Every request and response the engine builds type-checks each of its fields
  against the annotations (`MessageData.__post_init__`, defined only when Python
  runs without -O). That was a sixth of the CPU of a blocked request. The engine
  builds these from parsed bytes, and our addons from literals of the right type,
  so the check is skipped, as `python -O` would skip it.

- A connection whose handler is cancelled while it waits for the engine's event
  lock (`proxy/server.py`: `server_event` is awaited outside the `try` that
  handles cancellation) is never closed: a client refused with 413 while its
  body was still arriving waited for ever. We close it.

The patches are applied once at start-up by the runner, before any connection
exists (an HTTP/1 connection binds its `read_headers` when it starts). They
touch functions of mitmproxy's HTTP/1 layer and HTTP stream, checked against 12.3.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Callable, Generator
from typing import Any

from mitmproxy import flow, http
from mitmproxy.net.http import http1, status_codes
from mitmproxy.net.http.http1 import expected_http_body_size
from mitmproxy.proxy import commands, events, server
from mitmproxy.proxy.layers import http as http_layer
from mitmproxy.proxy.layers.http import _base, _http1, _http2, _http3
from mitmproxy.proxy.layers.http._events import (
    ErrorCode,
    RequestData,
    RequestProtocolError,
    ResponseProtocolError,
)
from mitmproxy.proxy.layers.http._hooks import HttpErrorHook, HttpRequestHeadersHook
from mitmproxy.utils import human

from proxy.signals.headers import HeaderSignals

log = logging.getLogger(__name__)
MAX_REQUEST_LINE = 8 * 1024
MAX_HEAD = 16 * 1024
TIMED_OUT = "optout.timed_out"  # flow.metadata: addons.limits gave up waiting for upstream
UPSTREAM_TIMEOUT = "upstream timeout"  # the flow's error message, and the 504 page's cue
BODY_TOO_LARGE = "request body too large"
MAX_BODY_OPTION = "optout_max_body"  # declared by addons.limits

_MESSAGES = {
    400: "The request could not be understood.",
    413: "The request body is too large.",
    414: "The request line is too long.",
    431: "The request's header fields are too large.",
    502: "The site is temporarily unavailable. Please try again later.",
    504: "The site took too long to answer. Please try again later.",
}
_REPORTED_HEAD = MAX_REQUEST_LINE + MAX_HEAD  # what `refused` gets of a refused head, at most
_applied = False
_extra_headers: Callable[[], list[tuple[str, str]]] = list
# Called with (peer address, status, head) for each head refused with 414 or 431.
Refused = Callable[[Any, int, bytes], None]
_refused: Refused | None = None
_Stream = http_layer.HttpStream
Commands = Generator[Any, Any, Any]


def apply(
    extra_headers: Callable[[], list[tuple[str, str]]] = list, refused: Refused | None = None
) -> None:
    """Patch the engine; `extra_headers` adds headers (the reservation) to error pages.

    `refused(peer, status, head)` is told of each head refused with 414 or 431.
    """
    global _applied, _extra_headers, _refused
    _extra_headers = extra_headers
    _refused = refused
    if _applied:
        return
    original = _http1.Http1Server.read_headers
    _http1.Http1Server.read_headers = _guard(original)  # type: ignore[method-assign]
    _http1.make_error_response = error_response
    for module in (_base, _http2, _http3):
        module.format_error = error_body  # type: ignore[attr-defined]
    server.ConnectionHandler.handle_connection = _always_closed(  # type: ignore[method-assign]
        server.ConnectionHandler.handle_connection
    )
    _Stream.handle_protocol_error = _on_protocol_error(_Stream.handle_protocol_error)  # type: ignore[method-assign]
    _Stream.check_body_size = _limit_request_body(_Stream.check_body_size)  # type: ignore[method-assign]
    _Stream.state_stream_request_body = _count_streamed_body(_Stream.state_stream_request_body)  # type: ignore[method-assign]
    if "__post_init__" in vars(http.MessageData):
        http.MessageData.__post_init__ = _unchecked  # type: ignore[method-assign]
    _applied = True


def _unchecked(self: Any) -> None:
    """In place of MessageData's field type check: every dataclass __init__ still calls it."""


def reservation_headers(signals: HeaderSignals) -> list[tuple[str, str]]:
    """Every reservation header of a response, for pages that no addon sees."""
    robots = [("x-robots-tag", ", ".join(signals.robots_tag))] if signals.robots_tag else []
    return [*signals.set, *robots]


def oversize_status(head: bytes) -> int | None:
    """414 or 431 when the (possibly incomplete) request head breaks a limit."""
    line_end = head.find(b"\n")
    if line_end > MAX_REQUEST_LINE or (line_end < 0 and len(head) > MAX_REQUEST_LINE):
        return 414
    end = head.find(b"\r\n\r\n")
    if end < 0:
        end = head.find(b"\n\n")
    if end > MAX_HEAD or (end < 0 and len(head) > MAX_HEAD):
        return 431
    return None


def _guard(read_headers: Any) -> Any:
    def guarded(self: Any, event: events.ConnectionEvent) -> Generator[Any, Any, None]:
        if isinstance(event, events.DataReceived) and len(self.buf) > MAX_REQUEST_LINE:
            head = bytes(self.buf)
            status = oversize_status(head)
            if status is not None:
                _report_refusal(self.conn.peername, status, head[:_REPORTED_HEAD])
                yield commands.SendData(self.conn, error_response(status))
                yield commands.CloseConnection(self.conn)
                self.state = self.done
                return
        yield from read_headers(self, event)

    return guarded


def _report_refusal(peer: Any, status: int, head: bytes) -> None:
    """Tell the runner; a fault there must not keep the client from its answer."""
    if _refused is None:
        return
    try:
        _refused(peer, status, head)
    except Exception:
        log.exception("recording a refused request head failed")


def error_body(status_code: int, message: str = "") -> bytes:
    """A short page that says what happened; `message` (engine detail) is not shown."""
    reason = status_codes.RESPONSES.get(status_code, "Error")
    text = _MESSAGES.get(status_code, "The request could not be completed.")
    return (
        f"<!doctype html><html><head><title>{status_code} {html.escape(reason)}</title>"
        f"</head><body><h1>{status_code} {html.escape(reason)}</h1>"
        f"<p>{html.escape(text)}</p></body></html>\n"
    ).encode()


def error_response(status_code: int, message: str = "") -> bytes:
    """The engine's error page, as bytes; an upstream timeout becomes a 504."""
    if message == UPSTREAM_TIMEOUT:
        status_code = 504
    return bytes(http1.assemble_response(error_page(status_code)))


def error_page(status_code: int) -> http.Response:
    headers = http.Headers(content_type="text/html; charset=utf-8", connection="close")
    for name, value in _extra_headers():
        headers.add(name, value)
    return http.Response.make(status_code, error_body(status_code), headers)


def _on_protocol_error(handle: Any) -> Any:
    """Name a timeout as such, and give the flow the error page the client is about to get."""

    def handled(self: Any, event: RequestProtocolError | ResponseProtocolError) -> Commands:
        if isinstance(event, ResponseProtocolError):
            if self.flow.metadata.get(TIMED_OUT):
                event = ResponseProtocolError(self.stream_id, UPSTREAM_TIMEOUT, event.code)
            status = event.code.http_status_code()
            if status is not None and _page_follows(self):
                self.flow.response = error_page(
                    504 if event.message == UPSTREAM_TIMEOUT else status
                )
        yield from handle(self, event)

    return handled


def _page_follows(stream: Any) -> bool:
    """Whether the engine will answer the client with an error page (no head sent yet)."""
    return bool(
        stream.client_state != stream.state_errored
        and stream.server_state != stream.state_stream_response_body
        and stream.server_state != stream.state_done
    )


def max_body(options: Any) -> int | None:
    """The request body limit in bytes, from the option addons.limits declares."""
    spec = getattr(options, MAX_BODY_OPTION, None)
    return human.parse_size(spec) if spec else None


def _limit_request_body(check_body_size: Any) -> Any:
    """Refuse a request body over the limit before reading (or buffering) any more of it."""

    def checked(self: Any, request: bool) -> Commands:
        limit = max_body(self.context.options) if request else None
        if limit is not None:
            size = len(self.request_body_buf) or _declared_size(self.flow.request)
            if size is not None and size > limit:
                if not self.request_body_buf:
                    yield HttpRequestHeadersHook(self.flow)
                yield from _refuse_body(self, upstream=False)
                return True
        return (yield from check_body_size(self, request))

    return checked


def _declared_size(request: http.Request) -> int | None:
    try:
        return expected_http_body_size(request)
    except ValueError:
        return None


def _count_streamed_body(state: Any) -> Any:
    """Count a streamed request body, which the engine no longer checks, against the limit."""

    def counted(self: Any, event: events.Event) -> Commands:
        limit = max_body(self.context.options)
        if limit is not None and isinstance(event, RequestData):
            self.optout_streamed = getattr(self, "optout_streamed", 0) + len(event.data)
            if self.optout_streamed > limit:
                yield from _refuse_body(self, upstream=True)
                return
        yield from state(self, event)

    return counted


def _refuse_body(stream: Any, upstream: bool) -> Commands:
    """413 to the client (if it has no answer yet), and abort the upstream request if sent."""
    stream.flow.error = flow.Error(BODY_TOO_LARGE)
    if _page_follows(stream):
        stream.flow.response = error_page(413)
    yield HttpErrorHook(stream.flow)
    if upstream:
        yield http_layer.SendHttp(
            RequestProtocolError(stream.stream_id, BODY_TOO_LARGE, ErrorCode.REQUEST_TOO_LARGE),
            stream.context.server,
        )
    yield http_layer.SendHttp(
        ResponseProtocolError(stream.stream_id, BODY_TOO_LARGE, ErrorCode.REQUEST_TOO_LARGE),
        stream.context.client,
    )
    stream.client_state = stream.server_state = stream.state_errored
    stream.flow.live = False


def _always_closed(handle_connection: Any) -> Any:
    """Close the socket of a connection handler cancelled before it could do so itself."""

    async def handled(self: Any, connection: Any) -> None:
        try:
            await handle_connection(self, connection)
        except asyncio.CancelledError:
            io = self.transports.pop(connection, None)  # None: it cleaned up itself
            if io is not None and io.writer is not None:
                io.writer.close()
            raise

    return handled
