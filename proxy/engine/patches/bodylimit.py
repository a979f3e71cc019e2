"""Refuse a request body over `optout_max_body` (413) before the engine reads any more of it.

mitmproxy's `body_size_limit` limits request *and* response bodies, so it
would cut the site's large downloads. The request limit is ours instead, the
`optout_max_body` option `addons.limits` declares: a known Content-Length over
it is refused before the body is read, a body of unknown length when it gets
there (streamed bodies: `streamedbody`).

Upstream: one option for both directions is the subject of
mitmproxy/mitmproxy#5060 (about `stream_large_bodies`; answered with an addon).
"""

from __future__ import annotations

import functools
from typing import Any

from mitmproxy.proxy.layers.http._hooks import HttpRequestHeadersHook

from proxy.engine.patches.checks import Patch, Target
from proxy.engine.patches.limits import max_body
from proxy.engine.patches.state import PatchState
from proxy.engine.patches.streams import Commands, Stream, declared_size, refuse_body


def limit_request_body(check_body_size: Any, state: PatchState) -> Any:
    @functools.wraps(check_body_size)
    def checked(self: Any, request: bool) -> Commands:
        limit = max_body(self.context.options) if request else None
        if limit is not None:
            size = len(self.request_body_buf) or declared_size(self.flow.request)
            if size is not None and size > limit:
                if not self.request_body_buf:
                    yield HttpRequestHeadersHook(self.flow)
                yield from refuse_body(self, state, upstream=False)
                return True
        return (yield from check_body_size(self, request))

    return checked


PATCH = Patch(
    "request body limit",
    Target(
        Stream,
        "check_body_size",
        used_by=(
            (Stream, "state_wait_for_request_headers"),
            (Stream, "state_consume_request_body"),
        ),
    ),
    limit_request_body,
)
