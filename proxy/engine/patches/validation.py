"""Give a request or response that fails the engine's header validation the page the client gets.

mitmproxy checks each message's framing headers (`HttpStream.check_invalid`):
a request with an invalid or repeated Content-Length, a Transfer-Encoding it
does not know, or both (and, in reverse mode, a CONNECT) gets a 400; an origin
response with such headers gets a 502. The page is sent without a `response`
hook, so the flow kept no response, or the origin's refused 200: the record
said no status, or 200, where the client saw 400 or 502 (issue 15, finding
11). We give the flow the page before the `error` hook runs, and name a
refused request's reason (`edge/framing`, `edge/connect`), so the record and
the metrics say what the client saw.

Upstream: mitmproxy/mitmproxy#7999 (open) would let the `error` hook set the
response sent.
"""

from __future__ import annotations

import functools
from typing import Any

from mitmproxy.proxy.layers.http._hooks import HttpErrorHook

from proxy.engine.patches.checks import Patch, Target
from proxy.engine.patches.state import PatchState
from proxy.engine.patches.streams import Commands, Stream, before, page_follows


def refused_reason(method: str) -> str:
    """How a request refused by the engine's validation is logged, under `edge/<reason>`."""
    return "connect" if method.upper() == "CONNECT" else "framing"


def answer_invalid(check_invalid: Any, state: PatchState) -> Any:
    @functools.wraps(check_invalid)
    def checked(self: Any, request: bool) -> Commands:
        def answer() -> None:
            if self.flow.error is None or not page_follows(self):
                return
            if request:
                state.answer(self.flow, 400, refused_reason(self.flow.request.method))
            else:
                state.answer(self.flow, 502)

        def at_error_hook(command: Any) -> Commands:
            if isinstance(command, HttpErrorHook):
                answer()
            yield from ()

        return (yield from before(check_invalid(self, request), at_error_hook))

    return checked


PATCH = Patch(
    "invalid messages recorded",
    Target(
        Stream,
        "check_invalid",
        used_by=(
            (Stream, "state_wait_for_request_headers"),
            (Stream, "state_wait_for_response_headers"),
        ),
    ),
    answer_invalid,
)
