"""Count a streamed request body against `optout_max_body`, which the engine no longer checks.

Once a request body streams (over `stream_large_bodies`, 2 MiB), mitmproxy
stops checking its size. We count what passes through and refuse the request
(413, the upstream request aborted) when it goes over the limit.

Upstream: no issue or PR found.
"""

from __future__ import annotations

import functools
from typing import Any

from mitmproxy.proxy import events
from mitmproxy.proxy.layers.http._events import RequestData

from proxy.engine.patches.checks import Patch, Target
from proxy.engine.patches.limits import max_body
from proxy.engine.patches.state import PatchState
from proxy.engine.patches.streams import Commands, Stream, refuse_body


def count_streamed_body(state_stream: Any, state: PatchState) -> Any:
    @functools.wraps(state_stream)
    def counted(self: Any, event: events.Event) -> Commands:
        limit = max_body(self.context.options)
        if limit is not None and isinstance(event, RequestData):
            self.optout_streamed = getattr(self, "optout_streamed", 0) + len(event.data)
            if self.optout_streamed > limit:
                yield from refuse_body(self, state, upstream=True)
                return
        yield from state_stream(self, event)

    return counted


# The stream's state is set to this method when its request body starts streaming.
PATCH = Patch(
    "streamed request body limit",
    Target(
        Stream,
        "state_stream_request_body",
        used_by=((Stream, "start_request_stream"), (Stream, "handle_protocol_error")),
    ),
    count_streamed_body,
)
