"""Refuse an oversized request head, 414 or 431, before the engine buffers any more of it.

mitmproxy reads an HTTP/1 request head without a size limit (a 64 MB header was
accepted): `Http1Server.read_headers` keeps buffering, where its own comment
says "FIXME: protect against header size DoS" (mitmproxy/proxy/layers/http/
_http1.py, 12.3.1). We answer 414 for a request line over 8 KiB and 431 for a
header section over 16 KiB, as nginx does. There is no flow for such a request,
so no addon sees it: the runner's `refused` callback gets the client's address,
the status and the head as far as it came, for the log.

Upstream: no issue or PR found; the FIXME above is the only trace.
"""

from __future__ import annotations

import functools
from collections.abc import Generator
from typing import Any

from mitmproxy.proxy import commands, events
from mitmproxy.proxy.layers.http import _http1

from proxy.engine.patches.checks import Patch, Target
from proxy.engine.patches.limits import MAX_REQUEST_LINE, REPORTED_HEAD, oversize_status
from proxy.engine.patches.state import PatchState


def guard(read_headers: Any, state: PatchState) -> Any:
    @functools.wraps(read_headers)
    def guarded(self: Any, event: events.ConnectionEvent) -> Generator[Any, Any, None]:
        if isinstance(event, events.DataReceived) and len(self.buf) > MAX_REQUEST_LINE:
            head = bytes(self.buf)
            status = oversize_status(head)
            if status is not None:
                state.report_refusal(self.conn.peername, status, head[:REPORTED_HEAD])
                yield commands.SendData(self.conn, state.error_response(status))
                yield commands.CloseConnection(self.conn)
                self.state = self.done
                return
        yield from read_headers(self, event)

    return guarded


# An HTTP/1 connection binds `self.read_headers` as its state when it starts.
PATCH = Patch(
    "request head size limit",
    Target(
        _http1.Http1Server,
        "read_headers",
        used_by=((_http1.Http1Connection, "start"), (_http1.Http1Connection, "mark_done")),
    ),
    guard,
)
