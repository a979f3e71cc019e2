"""Limits: how long the upstream gets to answer, and how large a request body may be.

mitmproxy has no per-request upstream timeout, only an idle one (`tcp_timeout`,
600 s): a hung upstream would hold the client for ten minutes. When a request
has been sent (the `request` hook) and its response headers have not arrived
within `optout_upstream_timeout` seconds, this addon marks the flow and closes
its upstream connection; `proxy.engine.patches` turns the engine's resulting error
into a 504 page and the flow's error into "upstream timeout", so the access log
says so. A body that is still arriving is not timed: once the headers are in,
the idle timeout applies.

`optout_max_body` is declared here and enforced in `proxy.engine.patches`, inside
the engine's body handling, since a request body must be refused before it is
read (413).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from mitmproxy import ctx, exceptions, http
from mitmproxy.utils import human

from proxy.engine.patches import MAX_BODY_OPTION, TIMED_OUT

log = logging.getLogger(__name__)
TIMER = "optout.upstream_timer"  # flow.metadata: the pending timeout of the flow


class Limits:
    def load(self, loader: Any) -> None:
        loader.add_option(
            "optout_upstream_timeout",
            float,
            30.0,
            "Seconds the upstream gets to send the response headers once the request "
            "has been sent; then the client gets a 504 and the log says 'upstream timeout'. "
            "0 waits for ever (only the idle timeout applies).",
        )
        loader.add_option(
            MAX_BODY_OPTION,
            str,
            "100m",
            "The largest request body accepted (bytes, or with a k/m/g suffix); a larger "
            "one is refused with 413 before it reaches the upstream. Empty: no limit.",
        )

    def configure(self, updated: set[str]) -> None:
        if "optout_upstream_timeout" in updated and ctx.options.optout_upstream_timeout < 0:
            raise exceptions.OptionsError(
                f"Cannot parse optout_upstream_timeout {ctx.options.optout_upstream_timeout}: "
                "must be 0 or more seconds"
            )
        if MAX_BODY_OPTION in updated:
            value = getattr(ctx.options, MAX_BODY_OPTION)
            try:
                human.parse_size(value)
            except ValueError as e:
                raise exceptions.OptionsError(f"Cannot parse {MAX_BODY_OPTION} {value}: {e}") from e

    def request(self, flow: http.HTTPFlow) -> None:
        """The request goes upstream now: start waiting for the answer."""
        timeout = ctx.options.optout_upstream_timeout
        if flow.response or flow.error or not flow.live or not timeout:
            return
        loop = asyncio.get_running_loop()
        flow.metadata[TIMER] = loop.call_later(timeout, self._expire, flow)

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        _cancel(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        _cancel(flow)

    def _expire(self, flow: http.HTTPFlow) -> None:
        flow.metadata.pop(TIMER, None)
        if flow.response or flow.error or not flow.live:
            return
        handler = ctx.master.addons.get("proxyserver").connections.get(flow.client_conn.id)
        if handler is None or flow.server_conn not in handler.transports:
            return
        flow.metadata[TIMED_OUT] = True
        log.debug("upstream timeout for %s", flow.request.path)
        handler.close_connection(flow.server_conn)


def _cancel(flow: http.HTTPFlow) -> None:
    timer = flow.metadata.pop(TIMER, None)
    if timer is not None:
        timer.cancel()
