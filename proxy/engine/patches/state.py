"""What the installed patches read while the engine runs, on one object the runner sets.

The patches are installed once per process, but the runner decides what goes
on the pages (the current ruleset's reservation headers) and who is told of a
refused head; `apply()` writes both here, and every patch reads them from here.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mitmproxy import http
from mitmproxy.net.http import http1

from proxy.engine.patches.limits import PAGE, REFUSED
from proxy.engine.patches.pages import error_page, page_status

log = logging.getLogger(__name__)
ExtraHeaders = Callable[[], list[tuple[str, str]]]
# Called with (peer address, status, head) for each head refused with 414 or 431.
Refused = Callable[[Any, int, bytes], None]


@dataclass(slots=True)
class PatchState:
    extra_headers: ExtraHeaders = list
    refused: Refused | None = None
    applied: bool = False
    # Listening sockets a supervisor passed down (--workers), by port (patches/inherited.py).
    listeners: dict[int, list[socket.socket]] = field(default_factory=dict)

    def page(self, status_code: int) -> http.Response:
        """Our error page for `status_code`, with the headers the runner adds (the reservation)."""
        return error_page(status_code, self.extra_headers())

    def answer(self, flow: http.HTTPFlow, status_code: int, refused: str | None = None) -> None:
        """Give the flow the page the client gets, so the record and metrics see what it saw."""
        flow.response = self.page(status_code)
        flow.metadata[PAGE] = status_code
        if refused is not None:
            flow.metadata[REFUSED] = refused

    def error_response(self, status_code: int, message: str = "") -> bytes:
        """The page as HTTP/1 bytes; an upstream timeout becomes a 504."""
        return bytes(http1.assemble_response(self.page(page_status(status_code, message))))

    def report_refusal(self, peer: Any, status: int, head: bytes) -> None:
        """Tell the runner; a fault there must not keep the client from its answer."""
        if self.refused is None:
            return
        try:
            self.refused(peer, status, head)
        except Exception:
            log.exception("recording a refused request head failed")
