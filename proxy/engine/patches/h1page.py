"""Our HTTP/1 error pages in place of mitmproxy's (502 upstream down, 400 bad request, 504).

`make_error_response` builds every page the HTTP/1 layer sends by itself:
`Server: mitmproxy`, and the engine's message (the upstream's address and
errno) in the body. Ours says what happened and carries the reservation
headers; an upstream we timed out (`addons.limits`) gets a 504.

Upstream: mitmproxy/mitmproxy#7999 (open) would let the `error` hook set the
response sent for an upstream failure, which would cover the 502 and 504 here.
"""

from __future__ import annotations

from typing import Any

from mitmproxy.proxy.layers.http import _http1

from proxy.engine.patches.checks import Patch, Target
from proxy.engine.patches.state import PatchState


def replace(make_error_response: Any, state: PatchState) -> Any:
    return state.error_response


PATCH = Patch(
    "HTTP/1 error pages",
    Target(
        _http1,
        "make_error_response",
        used_by=((_http1.Http1Server, "send"), (_http1.Http1Server, "read_headers")),
    ),
    replace,
)
