"""The HTTP/1 head limits for HTTP/2 requests: 414 or 431 on the stream, logged, nothing forwarded.

mitmproxy has no request-head limit over HTTP/2 either, and h2 accepts a
header list of up to 64 KiB (`H2Connection.DEFAULT_MAX_HEADER_LIST_SIZE`): a
20 KB header reached the upstream, where HTTP/1 gets 431 (issue 15). Each
request's fields are measured as the HTTP/1 head they become upstream
(`METHOD path HTTP/2.0`, then `name: value` lines, `:authority` as Host) and
held to the same limits (`oversize_status`). An oversized request gets our
page on its stream, the rest of its body is declined (RST_STREAM NO_ERROR,
RFC 9113 §8.1), and the runner's `refused` callback logs it from that head,
as for HTTP/1. The connection and its other streams go on.

Upstream: no issue or PR found.
"""

from __future__ import annotations

import functools
from typing import Any

import h2.errors
import h2.events
from mitmproxy.proxy import commands
from mitmproxy.proxy.layers.http import _http2

from proxy.engine.patches.checks import Patch, Target
from proxy.engine.patches.h2page import h2_fields
from proxy.engine.patches.limits import REPORTED_HEAD, oversize_status
from proxy.engine.patches.state import PatchState
from proxy.engine.patches.streams import Commands


def as_h1_head(fields: list[tuple[bytes, bytes]]) -> bytes:
    """The HTTP/1 head an HTTP/2 request's fields stand for, as the upstream would get it."""
    pseudo = {name: value for name, value in fields if name.startswith(b":")}
    lines = [b"%s %s HTTP/2.0" % (pseudo.get(b":method", b""), pseudo.get(b":path", b""))]
    if b":authority" in pseudo:
        lines.append(b"host: " + pseudo[b":authority"])
    lines += [name + b": " + value for name, value in fields if not name.startswith(b":")]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def limit(handle_h2_event: Any, state: PatchState) -> Any:
    @functools.wraps(handle_h2_event)
    def handled(self: Any, event: Any) -> Commands:
        if isinstance(event, h2.events.RequestReceived):
            head = as_h1_head([(bytes(n), bytes(v)) for n, v in event.headers])
            status = oversize_status(head)
            if status is not None:
                yield from _refuse(self, state, event, status, head)
                return False
        return (yield from handle_h2_event(self, event))

    return handled


def _refuse(conn: Any, state: PatchState, event: Any, status: int, head: bytes) -> Commands:
    state.report_refusal(conn.conn.peername, status, head[:REPORTED_HEAD])
    page = state.page(status)
    conn.h2_conn.send_headers(event.stream_id, h2_fields(page))
    conn.h2_conn.send_data(event.stream_id, page.content, end_stream=True)
    if not event.stream_ended:
        conn.h2_conn.reset_stream(event.stream_id, h2.errors.ErrorCodes.NO_ERROR)
    yield commands.SendData(conn.conn, conn.h2_conn.data_to_send())


PATCH = Patch(
    "HTTP/2 request head size limit",
    Target(
        _http2.Http2Server,
        "handle_h2_event",
        used_by=((_http2.Http2Connection, "_handle_event"),),
    ),
    limit,
)
