"""Graceful shutdown: stop listening, let the requests in flight finish, then stop.

mitmproxy's Master.shutdown() stops everything at once and cuts off requests in
flight. The Drain addon counts flows from their request head to their end
(`response` fires after a streamed body is complete, `error` on failure), and
`drain()` first closes the listeners (the proxyserver's server instances, whose
stop leaves open connections alone), then waits for those flows and for their
last bytes to leave, bounded by the timeout, and only then stops the master.
While draining, HTTP/1 answers carry `Connection: close`, so keep-alive clients
reconnect elsewhere instead of sending more requests here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from mitmproxy import http
from mitmproxy.addons.proxyserver import Proxyserver

log = logging.getLogger(__name__)

FLUSH_STEP = 0.02  # seconds between checks that the last answers have left


class Drain:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.flows: set[str] = set()
        self.draining = False
        self._idle = asyncio.Event()

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        self.flows.add(flow.id)
        self._idle.clear()

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        self._close_after(flow)

    def response(self, flow: http.HTTPFlow) -> None:
        self._close_after(flow)
        self._done(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._done(flow)

    def _done(self, flow: http.HTTPFlow) -> None:
        self.flows.discard(flow.id)
        if not self.flows:
            self._idle.set()

    def _close_after(self, flow: http.HTTPFlow) -> None:
        if self.draining and flow.response is not None and flow.request.http_version != "HTTP/2.0":
            flow.response.headers["connection"] = "close"

    async def drain(self, server: Proxyserver, stop: Callable[[], None]) -> None:
        """Close `server`'s listeners, wait for the flows in flight (up to the timeout), then
        `stop` (the master's shutdown)."""
        self.draining = True
        await server.servers.update([])
        log.info("shutting down: %d request(s) in flight", len(self.flows))
        deadline = time.monotonic() + self.timeout
        if self.flows:
            try:
                await asyncio.wait_for(self._idle.wait(), self.timeout)
            except TimeoutError:
                log.warning("shutdown timeout: %d request(s) cut off", len(self.flows))
        for _ in range(int(max(deadline - time.monotonic(), 0) / FLUSH_STEP)):
            if not unsent(server):
                break
            await asyncio.sleep(FLUSH_STEP)
        stop()


def unsent(server: Proxyserver) -> int:
    """Bytes answered but still queued for the clients."""
    total = 0
    for handler in list(server.connections.values()):
        for io in list(handler.transports.values()):
            transport = getattr(io.writer, "transport", None)
            if transport is not None and not transport.is_closing():
                total += int(transport.get_write_buffer_size())
    return total
