"""Drop the upstream's interim (1xx) responses, so that its final response reaches the client.

mitmproxy's HTTP/1 client (`Http1Client.read_headers`) takes the first
response head it reads for the final one: a `103 Early Hints` (Node's
`writeEarlyHints`) or an unasked `100 Continue` before the 200 became the
answer, with no body, and the page that followed was lost (issue 15,
finding 8). We skip every complete 1xx head at the start of the buffer before
the engine reads it, so the engine sees the final head as the first.

Dropped rather than forwarded, as nginx does by default and as mitmproxy's
own HTTP/2 client already does (`InformationalResponseReceived` is only
logged): the engine has no event for an interim response to pass on, the
`100 Continue` a client asked for is sent by the engine itself (which strips
`Expect` from the forwarded request), and an HTTP/1.0 client must never get
one (RFC 9110 §15.2). `101 Switching Protocols` is final, and left alone. An
origin that sends nothing but interim heads still meets the upstream timeout,
which waits for the final head (`addons.limits`).

Upstream: no issue or PR found for HTTP/1 interim responses from the server.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Generator
from typing import Any

from mitmproxy.proxy import events
from mitmproxy.proxy.layers.http import _http1

from proxy.engine.patches.checks import Patch, Target
from proxy.engine.patches.state import PatchState

# A status line of 100-199 but 101, as the first bytes of the buffer.
INTERIM = re.compile(rb"HTTP/1\.[01] +1(?!01)\d\d(?:[ \t\r\n]|$)")
STATUS_LINE_PREFIX = 24  # enough of the buffer to match INTERIM


def is_interim(start: bytes) -> bool:
    """Whether a response head starting with `start` is an interim (1xx, not 101) response."""
    return INTERIM.match(start) is not None


def drop_interim(buf: Any) -> bool:
    """Remove the complete interim heads at the start of `buf`; False while one is incomplete."""
    while is_interim(bytes(buf)[:STATUS_LINE_PREFIX]):
        if buf.maybe_extract_lines() is None:
            return False
    return True


def skip(read_headers: Any, state: PatchState) -> Any:
    @functools.wraps(read_headers)
    def reading(self: Any, event: events.ConnectionEvent) -> Generator[Any, Any, None]:
        if isinstance(event, events.DataReceived) and self.request is not None:
            if not drop_interim(self.buf):
                return  # the rest of the interim head comes with more data
        yield from read_headers(self, event)

    return reading


# An HTTP/1 connection binds `self.read_headers` as its state when it starts.
PATCH = Patch(
    "interim responses dropped",
    Target(
        _http1.Http1Client,
        "read_headers",
        used_by=((_http1.Http1Connection, "start"), (_http1.Http1Connection, "mark_done")),
    ),
    skip,
)
