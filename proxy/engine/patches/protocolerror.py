"""Name an upstream timeout as such, and give the flow the error page the client gets.

mitmproxy has no upstream timeout, only an idle one (600 s). `addons.limits`
closes the upstream connection of a flow whose response headers are late and
marks the flow (`TIMED_OUT`); the engine then sees "server closed connection",
which we turn into "upstream timeout" (and the pages into a 504).
A request body the engine could not read gets a 400 (`badbody`), and its flow
that page.

An engine error page is also sent without the `response` hook, so the flow has
no response and the access log would record no status. When the client is
about to get one of our pages, the flow gets it as its response (before the
`error` hook), so the record and the metrics say 502, 504 or 413, as the
client saw.

Upstream: timeouts in general are mitmproxy/mitmproxy#1095; the idle timeout is
#7909 (made configurable by #7910). An error hook that sets the response sent
is #7999 (open).
"""

from __future__ import annotations

import functools
from typing import Any

from mitmproxy.proxy.layers.http._events import RequestProtocolError, ResponseProtocolError

from proxy.engine.patches.badbody import answered_bad_body
from proxy.engine.patches.checks import Patch, Target
from proxy.engine.patches.limits import TIMED_OUT, UPSTREAM_TIMEOUT
from proxy.engine.patches.pages import page_status
from proxy.engine.patches.state import PatchState
from proxy.engine.patches.streams import Commands, Stream, page_follows


def name_the_error(handle: Any, state: PatchState) -> Any:
    @functools.wraps(handle)
    def handled(self: Any, event: RequestProtocolError | ResponseProtocolError) -> Commands:
        if isinstance(event, ResponseProtocolError):
            if self.flow.metadata.get(TIMED_OUT):
                event = ResponseProtocolError(self.stream_id, UPSTREAM_TIMEOUT, event.code)
            status = event.code.http_status_code()
            if status is not None and page_follows(self):
                state.answer(self.flow, page_status(status, event.message))
        elif answered_bad_body(event) and self.flow.response is None and page_follows(self):
            state.answer(self.flow, 400, "framing")
        yield from handle(self, event)

    return handled


PATCH = Patch(
    "upstream errors named and recorded",
    Target(
        Stream,
        "handle_protocol_error",
        used_by=((Stream, "_handle_event"), (Stream, "make_server_connection")),
    ),
    name_the_error,
)
