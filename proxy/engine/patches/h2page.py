"""Our error pages over HTTP/2, with their headers, in place of mitmproxy's.

The HTTP/2 layer sends its own page for a failed stream that has sent no
headers yet (`Http2Connection._handle_event`): `server: mitmproxy`, no
reservation headers, and a body quoting the upstream's address and errno. We
send the same page as over HTTP/1 instead, in the same place and under the
same conditions; only the connection-specific `connection: close`, which
HTTP/2 forbids, is left out.

Upstream: mitmproxy/mitmproxy#7999 (open) would let the `error` hook set this
response on all three HTTP versions.
"""

from __future__ import annotations

import functools
from typing import Any

from mitmproxy import http
from mitmproxy.proxy import commands
from mitmproxy.proxy.layers.http import _http2
from mitmproxy.proxy.layers.http._events import ResponseProtocolError

from proxy.engine.patches.checks import Patch, Target
from proxy.engine.patches.pages import page_status
from proxy.engine.patches.state import PatchState
from proxy.engine.patches.streams import Commands

_HANDLE = ((_http2.Http2Connection, "_handle_event"),)


def answer(handle_event: Any, state: PatchState) -> Any:
    @functools.wraps(handle_event)
    def handled(self: Any, event: Any) -> Commands:
        status = _page_due(self, event)
        if status is None:
            yield from handle_event(self, event)
            return
        page = state.page(page_status(status, event.message))
        self.h2_conn.send_headers(event.stream_id, h2_fields(page))
        self.h2_conn.send_data(event.stream_id, page.content, end_stream=True)
        yield commands.SendData(self.conn, self.h2_conn.data_to_send())

    return handled


def _page_due(conn: Any, event: Any) -> int | None:
    """The status of the page mitmproxy would send for `event` here, or None if it sends none."""
    if not isinstance(event, ResponseProtocolError):
        return None
    status = event.code.http_status_code()
    if (
        status is None
        or conn.is_closed(event.stream_id)
        or not conn.is_open_for_us(event.stream_id)
    ):
        return None
    if conn.h2_conn.streams[event.stream_id].state_machine.headers_sent:
        return None
    return int(status)


def h2_fields(page: http.Response) -> list[tuple[bytes, bytes]]:
    """The page's head as HTTP/2 header fields: lower-case, no connection-specific field."""
    fields = [(name.lower(), value) for name, value in page.headers.fields]
    return [(b":status", b"%d" % page.status_code), *(f for f in fields if f[0] != b"connection")]


PATCH = Patch(
    "HTTP/2 error pages",
    Target(
        _http2.Http2Connection,
        "_handle_event",
        used_by=((_http2.Http2Server, "_handle_event"),),
    ),
    answer,
    # Where mitmproxy builds its page, and the conditions `_page_due` repeats.
    also=(
        Target(_http2, "format_error", used_by=_HANDLE),
        Target(_http2.Http2Connection, "is_closed", used_by=_HANDLE),
        Target(_http2.Http2Connection, "is_open_for_us", used_by=_HANDLE),
    ),
)
