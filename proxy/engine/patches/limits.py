"""What the engine patches enforce, and the names they share with `addons.limits`.

Values and pure functions only: this module is imported before the mitmproxy
version is checked, so it must not touch the engine's private modules.
"""

from __future__ import annotations

from typing import Any

from mitmproxy.utils import human

MAX_REQUEST_LINE = 8 * 1024
MAX_HEAD = 16 * 1024
REPORTED_HEAD = MAX_REQUEST_LINE + MAX_HEAD  # what `refused` gets of a refused head, at most
TIMED_OUT = "optout.timed_out"  # flow.metadata: addons.limits gave up waiting for upstream
UPSTREAM_TIMEOUT = "upstream timeout"  # the flow's error message, and the 504 page's cue
BODY_TOO_LARGE = "request body too large"
# flow.metadata: the status of the engine's own page, when that is what the client got;
# the page carries the reservation headers of `PatchState.extra_headers`.
PAGE = "optout.engine_page"
# flow.metadata: why the engine refused a request it had parsed (logged as `edge/<reason>`).
REFUSED = "optout.engine_refused"
MAX_BODY_OPTION = "optout_max_body"  # declared by addons.limits


def oversize_status(head: bytes) -> int | None:
    """414 or 431 when the (possibly incomplete) request head breaks a limit."""
    line_end = head.find(b"\n")
    if line_end > MAX_REQUEST_LINE or (line_end < 0 and len(head) > MAX_REQUEST_LINE):
        return 414
    end = head.find(b"\r\n\r\n")
    if end < 0:
        end = head.find(b"\n\n")
    if end > MAX_HEAD or (end < 0 and len(head) > MAX_HEAD):
        return 431
    return None


def max_body(options: Any) -> int | None:
    """The request body limit in bytes, from the option addons.limits declares."""
    spec = getattr(options, MAX_BODY_OPTION, None)
    return human.parse_size(spec) if spec else None
