"""ConnectionGuard: time limits on request heads and idle connections, and a connection limit.

mitmproxy has one timeout, `tcp_timeout` (600 s of inactivity), which every
trickled byte restarts, and no limit on connections: a slow-headers client
holds a descriptor as long as it likes, and at the descriptor limit nobody is
accepted. `proxy.edge.slots` decides who keeps a slot; this addon applies it:
a head overdue gets a 408 (with the reservation headers, as every answer of the
proxy) and is closed, and so does a request body that arrives slower than
`MIN_BODY_RATE` on average (after a first `head_timeout` of grace); an idle
kept-alive connection is closed, and a connection beyond the limit takes the
slot of the one that has waited longest for its head or, when every connection
is busy, gets a 503 and is closed. Each 408 and 503 is
logged like the engine's own refusals. Closing is cheap: the transport is closed
and mitmproxy tears the connection down as if the client had left.

Being the first addon, its `error` hook also completes the flows the engine
answered with its own page (`engine_answered`), before the metrics and the log
read them.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from typing import Any

from mitmproxy import connection, ctx, http

from addons.classify import request_info
from proxy.edge.slots import Slots
from proxy.engine import patches as enginepatch
from proxy.engine.pipeline import CLASSIFICATION, OUTCOME, REQUEST, SIGNALS, VERDICT, Pipeline
from proxy.identity.classify import classify
from proxy.model import Action, Verdict

log = logging.getLogger(__name__)
HEAD_TIMEOUT = 30.0  # seconds from accepting a connection to its whole request head
IDLE_TIMEOUT = 75.0  # seconds a kept-alive connection may wait for its next request
RESERVED_FDS = 64  # descriptors kept for the log, the admin port, DNS and the like
TICK = 0.5  # seconds between two checks for overdue connections
MIN_BODY_RATE = 8 * 1024  # bytes a second a request body must average, after the head timeout


def default_limit() -> int:
    """Half of what the descriptor limit leaves: each client may hold an upstream too."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 65536
    return max(16, (soft - RESERVED_FDS) // 2)


class ConnectionGuard:
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        limit = pipeline.max_connections or default_limit()
        self.slots = Slots(limit, pipeline.head_timeout, pipeline.idle_timeout, time.monotonic)
        self.clients: dict[str, connection.Client] = {}
        self.bodies: dict[str, tuple[float, http.HTTPFlow]] = {}  # flow id: deadline, flow
        self._ticker: asyncio.Task[None] | None = None

    def running(self) -> None:
        self._ticker = asyncio.get_running_loop().create_task(self._tick())

    def done(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()

    def client_connected(self, client: connection.Client) -> None:
        admitted, evicted = self.slots.opened(client.id)
        if evicted is not None:
            self._close(evicted, 408, "no request head before a newer connection needed the slot")
        if not admitted:
            self._refuse(client, 503, "too many connections")
            return
        self.clients[client.id] = client

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        self.slots.head_received(flow.client_conn.id)
        grace = body_time(flow.request.headers, self.slots.head_timeout)
        if grace is not None:
            self.bodies[flow.id] = (time.monotonic() + grace, flow)

    def request(self, flow: http.HTTPFlow) -> None:
        self.bodies.pop(flow.id, None)  # the whole body arrived

    def response(self, flow: http.HTTPFlow) -> None:
        self.bodies.pop(flow.id, None)
        self.slots.answered(flow.client_conn.id)

    def error(self, flow: http.HTTPFlow) -> None:
        self.bodies.pop(flow.id, None)
        self.slots.answered(flow.client_conn.id)
        engine_answered(flow, self.pipeline)

    def client_disconnected(self, client: connection.Client) -> None:
        self.slots.closed(client.id)
        self.clients.pop(client.id, None)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            heads, idle = self.slots.expired()
            for key in heads:
                self._close(key, 408, "request head not received in time")
            for key in idle:
                self._close(key, None, "")
            now = time.monotonic()
            for flow_id, (deadline, flow) in list(self.bodies.items()):
                if deadline <= now:
                    del self.bodies[flow_id]
                    self._body_too_slow(flow)

    def _body_too_slow(self, flow: http.HTTPFlow) -> None:
        """408 and close; the flow's own record (written when it fails) says 408."""
        client = flow.client_conn
        self.clients.pop(client.id, None)
        self.slots.closed(client.id)
        flow.response = enginepatch.STATE.page(408)
        flow.metadata[SIGNALS] = self.pipeline.ruleset.headers(True).names
        _shut(client, 408, "request body too slow", report=False)

    def _close(self, key: Any, status: int | None, reason: str) -> None:
        client = self.clients.pop(key, None)
        if client is not None:
            _shut(client, status, reason)

    def _refuse(self, client: connection.Client, status: int, reason: str) -> None:
        _shut(client, status, reason, close=False)
        client.error = reason  # mitmproxy closes the connection without reading from it


def engine_answered(flow: http.HTTPFlow, pipeline: Pipeline) -> None:
    """What the metrics and the log need of a flow the engine answered with its own page.

    Its signals are the page's reservation headers; a request it refused (413,
    400 for bad framing or CONNECT) is a block under `edge/<reason>`, with the
    agent it claimed, as the Edge addon's refusals are. This runs first of the
    `error` hooks (ConnectionGuard is the first addon).
    """
    if flow.metadata.get(enginepatch.PAGE) is None:
        return
    ruleset = pipeline.ruleset
    flow.metadata[SIGNALS] = ruleset.headers(True).names
    reason = flow.metadata.get(enginepatch.REFUSED)
    if reason is None:
        return
    flow.metadata[VERDICT] = Verdict(Action.BLOCK, f"edge/{reason}")
    flow.metadata[OUTCOME] = "refused"
    if CLASSIFICATION not in flow.metadata:  # refused before the Classify addon ran
        request = flow.metadata.setdefault(REQUEST, request_info(flow))
        flow.metadata[CLASSIFICATION] = classify(ruleset.catalogue, request)


def body_time(headers: http.Headers, grace: float) -> float | None:
    """Seconds a request body may take to arrive; None when there is none to wait for."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return grace * 2  # no length to go by: as long as two head timeouts
    length = headers.get("content-length", "")
    if not length.isdigit() or int(length) == 0:
        return None
    return grace + int(length) / MIN_BODY_RATE


def _shut(
    client: connection.Client,
    status: int | None,
    reason: str,
    close: bool = True,
    report: bool = True,
) -> None:
    """Answer `status` (plain HTTP only) and close; log the refusal like the engine's."""
    handler = ctx.master.addons.get("proxyserver").connections.get(client.id)
    io = handler.transports.get(client) if handler is not None else None
    if io is None or io.writer is None:
        return
    try:
        if status is not None and not client.tls:
            io.writer.write(enginepatch.error_response(status, reason))
        if close:
            io.writer.close()
    except (OSError, RuntimeError) as e:  # the client went first
        log.debug("closing %s: %s", client.peername, e)
    if status is not None and report:
        enginepatch.STATE.report_refusal(client.peername, status, b"")
