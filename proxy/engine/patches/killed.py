"""Give the flow its 400 page when a bad request body is noticed while a hook runs.

The engine pauses a stream while an addon hook runs and queues what arrives
meanwhile; if that is a request error, `HttpStream.check_killed` ends the flow
("killed by remote") without `handle_protocol_error`, where `protocolerror`
gives the flow its page. A body h11 could not read, sent with its head, ended
so: the client got the 400 (`badbody`), but the record had no status. We give
the flow that page before the engine ends it.

Upstream: no issue or PR found.
"""

from __future__ import annotations

import functools
from typing import Any

from proxy.engine.patches.badbody import answered_bad_body
from proxy.engine.patches.checks import Patch, Target
from proxy.engine.patches.state import PatchState
from proxy.engine.patches.streams import Commands, Stream, page_follows


def answer_queued(check_killed: Any, state: PatchState) -> Any:
    @functools.wraps(check_killed)
    def checked(self: Any, emit_error_hook: bool) -> Commands:
        queued = next((e for e in self._paused_event_queue if answered_bad_body(e)), None)
        if queued is not None and self.flow.response is None and page_follows(self):
            state.answer(self.flow, 400, "framing")
        return (yield from check_killed(self, emit_error_hook))

    return checked


PATCH = Patch(
    "bad bodies noticed during a hook recorded",
    Target(
        Stream,
        "check_killed",
        used_by=(
            (Stream, "state_wait_for_request_headers"),
            (Stream, "handle_protocol_error"),
        ),
    ),
    answer_queued,
)
