"""What mitmproxy 12 does not do for a public-facing reverse proxy, patched in.

- Request heads are read without a size limit (`_http1.py`: "FIXME: protect
  against header size DoS"): a 64 MB header was accepted. We answer 414 for a
  request line over 8 KiB and 431 for a header section over 16 KiB, as nginx
  does, before the head is parsed or buffered any further.
- The engine's own error pages (502 when the upstream is down, 400 for a bad
  request) name the engine (`Server: mitmproxy`) and leak the upstream's
  address and errno. Ours say what happened, in a sentence, and nothing else;
  they still carry the reservation headers.

The patches are applied once at start-up by the runner, before any connection
exists (an HTTP/1 connection binds its `read_headers` when it starts). They
touch two functions of mitmproxy's HTTP/1 layer, checked against 12.3.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Generator
from typing import Any

from mitmproxy import http
from mitmproxy.net.http import http1, status_codes
from mitmproxy.proxy import commands, events
from mitmproxy.proxy.layers.http import _base, _http1, _http2, _http3

MAX_REQUEST_LINE = 8 * 1024
MAX_HEAD = 16 * 1024

_MESSAGES = {
    400: "The request could not be understood.",
    413: "The request body is too large.",
    414: "The request line is too long.",
    431: "The request's header fields are too large.",
    502: "The site is temporarily unavailable. Please try again later.",
    504: "The site took too long to answer. Please try again later.",
}
_applied = False
_extra_headers: Callable[[], list[tuple[str, str]]] = list


def apply(extra_headers: Callable[[], list[tuple[str, str]]] = list) -> None:
    """Patch the engine; `extra_headers` adds headers (the reservation) to error pages."""
    global _applied, _extra_headers
    _extra_headers = extra_headers
    if _applied:
        return
    original = _http1.Http1Server.read_headers
    _http1.Http1Server.read_headers = _guard(original)  # type: ignore[method-assign]
    _http1.make_error_response = error_response
    for module in (_base, _http2, _http3):
        module.format_error = error_body  # type: ignore[attr-defined]
    _applied = True


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
            status = oversize_status(bytes(self.buf))
            if status is not None:
                yield commands.SendData(self.conn, error_response(status))
                yield commands.CloseConnection(self.conn)
                self.state = self.done
                return
        yield from read_headers(self, event)

    return guarded


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
    headers = http.Headers(content_type="text/html; charset=utf-8", connection="close")
    for name, value in _extra_headers():
        headers.add(name, value)
    return bytes(
        http1.assemble_response(http.Response.make(status_code, error_body(status_code), headers))
    )
