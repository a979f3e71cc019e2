"""Answer a request body that breaks HTTP/1 framing (a bad chunk size, say) with a 400.

When h11 cannot read a request body (`Http1Connection.read_body`: an invalid
chunk size or chunk end, a connection closed mid-body), mitmproxy closes the
client connection without a word: the client saw no status and the record had
none (issue 15, finding 11; nginx answers 400). We send our 400 page before
that close, when no response has started on the connection, and the
`protocolerror` patch gives the flow the same page (`answered_bad_body`), so
the record says 400 under `edge/framing`.

Upstream: no issue or PR found.
"""

from __future__ import annotations

import functools
from typing import Any

from mitmproxy.proxy import commands, events
from mitmproxy.proxy.layers.http import _http1
from mitmproxy.proxy.layers.http._events import ErrorCode, RequestProtocolError

from proxy.engine.patches.checks import Patch, Target
from proxy.engine.patches.state import PatchState
from proxy.engine.patches.streams import Commands, before

BAD_BODY = "HTTP/1 protocol error"  # how read_body's RequestProtocolError message starts
CLOSED = "peer closed connection"  # h11's message for a body cut off by the connection's end


def answered_bad_body(event: Any) -> bool:
    """Whether `event` is the error of a request body h11 could not read (answered 400 here)."""
    return (
        isinstance(event, RequestProtocolError)
        and event.code is ErrorCode.GENERIC_CLIENT_ERROR
        and event.message.startswith(BAD_BODY)
        and CLOSED not in event.message  # the client left mid-body: it was not answered
    )


def answer_bad_body(read_body: Any, state: PatchState) -> Any:
    @functools.wraps(read_body)
    def reading(self: Any, event: events.Event) -> Commands:
        # A closed connection (the client left, or a 408 closed it) has no one to answer.
        answer = isinstance(event, events.DataReceived)
        answer = answer and isinstance(self, _http1.Http1Server) and self.response is None

        def closing(command: Any) -> Commands:
            if answer and isinstance(command, commands.CloseConnection):
                if command.connection is self.conn:
                    yield commands.SendData(self.conn, state.error_response(400))

        return (yield from before(read_body(self, event), closing))

    return reading


PATCH = Patch(
    "bad request bodies answered",
    Target(
        _http1.Http1Connection,
        "read_body",
        used_by=((_http1.Http1Server, "read_headers"), (_http1.Http1Client, "read_headers")),
    ),
    answer_bad_body,
)
