"""Refuse a request head that is not strictly framed (400), before the engine parses it.

mitmproxy splits a head on LF only and forwards each field's bytes as they
came: a bare CR in a header went upstream verbatim, and an origin that takes CR
for a line end (Python's `http.server`) ran a request hidden in the body that
the proxy never judged (issue 15, finding 3). Obs-fold lines were joined and
forwarded, and NUL, ESC and DEL passed. Every complete head is now matched
against the grammar of RFC 9112 before mitmproxy reads it:

- the request line is `method SP target SP HTTP/x.y`, the method a token, the
  target free of control bytes and spaces (8-bit bytes are left to the Edge
  addon, which normalises or refuses the target);
- each field is `token ":" value`: no space before the colon, no obs-fold
  (a line starting with SP or HTAB), no control byte in the value but HTAB;
- lines end in CRLF or a bare LF (as nginx and h11 accept), never a bare CR.

8-bit bytes (obs-text) in field *values* are accepted, as nginx 1.22 on the
test machine accepts them (`X-A: caf\\xe9` gets 200): the reservation must not
break clients that send Latin-1 values, and such a byte cannot end a line or
split a field at any origin. nginx also accepts ESC and DEL in values and
ignores fields with an invalid name; we refuse both (400), since we forward
what we accept and cannot know how the origin reads it.

A request line that cannot be valid is refused as soon as it is complete (or
at its first byte, for TLS bytes on the plain port), so HTTP/0.9 (`GET /`) and
a malformed line (`GE T / HTTP/1.1`) get their 400 without waiting for a head
that never comes. There is no flow for a refused head: the runner's `refused`
callback logs it, with what could be read of it, as for 414 and 431.

Upstream: mitmproxy/mitmproxy has no strict mode for HTTP/1 heads; h11 (which
mitmproxy uses for bodies only) is strict, but mitmproxy parses heads itself.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Generator
from typing import Any

from mitmproxy.proxy import commands, events
from mitmproxy.proxy.layers.http import _http1

from proxy.engine.patches.checks import Patch, Target
from proxy.engine.patches.limits import REPORTED_HEAD
from proxy.engine.patches.state import PatchState

_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_REQUEST_LINE = _TOKEN + rb" [^\x00-\x20\x7f]+ HTTP/[0-9]\.[0-9]\r?\n"
_FIELD = _TOKEN + rb":[\t\x20-\x7e\x80-\xff]*\r?\n"
# One empty line before a request is ignored (RFC 9112 §2.2), as mitmproxy does.
_LEADING = rb"(?:\r?\n)?"  # also stripped by `strict` before the check
HEAD = re.compile(_LEADING + _REQUEST_LINE + rb"(?:" + _FIELD + rb")*\r?\n")
REQUEST_LINE = re.compile(_LEADING + _REQUEST_LINE)
# What a request line may start with: a method, as far as it came.
METHOD_START = re.compile(_LEADING + rb"(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?: |$)|$)")
HEAD_END = re.compile(rb"\n\r?\n")  # where mitmproxy (h11's ReceiveBuffer) ends a head


def malformed(buffered: bytes) -> bool:
    """Whether the head at the start of `buffered` (maybe incomplete) breaks the framing."""
    if METHOD_START.match(buffered) is None:
        return True
    start = 2 if buffered.startswith(b"\r\n") else 1 if buffered.startswith(b"\n") else 0
    if buffered.find(b"\n", start) < 0:
        return False  # the request line is still arriving
    if REQUEST_LINE.match(buffered) is None:
        return True
    end = HEAD_END.search(buffered, start)
    return end is not None and HEAD.fullmatch(buffered, 0, end.end()) is None


def strict(read_headers: Any, state: PatchState) -> Any:
    @functools.wraps(read_headers)
    def framed(self: Any, event: events.ConnectionEvent) -> Generator[Any, Any, None]:
        if isinstance(event, events.DataReceived) and self.buf:
            head = bytes(self.buf)
            empty = 2 if head.startswith(b"\r\n") else 1 if head.startswith(b"\n") else 0
            if empty:
                # mitmproxy drops the empty line, then waits for more data before it
                # parses what follows: a client that had sent it all waited for ever.
                self.buf.maybe_extract_at_most(empty)
                head = head[empty:]
            if malformed(head):
                state.report_refusal(self.conn.peername, 400, head[:REPORTED_HEAD])
                yield commands.SendData(self.conn, state.error_response(400))
                yield commands.CloseConnection(self.conn)
                self.state = self.done
                return
        yield from read_headers(self, event)

    return framed


PATCH = Patch(
    "strict request framing",
    Target(
        _http1.Http1Server,
        "read_headers",
        used_by=((_http1.Http1Connection, "start"), (_http1.Http1Connection, "mark_done")),
    ),
    strict,
)
