"""Serve the listening sockets a supervisor passed down, instead of binding new ones.

With `--workers N` the supervisor binds one SO_REUSEPORT socket per worker on the
listen port (proxy.engine.supervisor): the kernel spreads new connections evenly
over them, and a worker that dies leaves its socket, with the connections queued
on it, to the worker that replaces it. mitmproxy 12 always binds its own socket
(`AsyncioServerInstance.listen`), so a worker's listener takes the inherited one
for its port; without one (a single process) mitmproxy binds as before.

Upstream: mitmproxy has no option for pre-bound sockets or SO_REUSEPORT.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from mitmproxy.proxy import mode_servers

from proxy.engine.patches.checks import Patch, Target
from proxy.engine.patches.state import PatchState


def inherited(listen: Any, state: PatchState) -> Any:
    @functools.wraps(listen)
    async def listened(self: Any, host: str, port: int) -> list[Any]:
        sockets = state.listeners.get(port)
        if not sockets or self.mode.transport_protocol != "tcp":
            return list(await listen(self, host, port))
        # A duplicate: stopping the listener closes it, never the socket the worker keeps.
        return [await asyncio.start_server(self.handle_stream, sock=s.dup()) for s in sockets]

    return listened


PATCH = Patch(
    "inherited listeners",
    Target(
        mode_servers.AsyncioServerInstance,
        "listen",
        used_by=((mode_servers.AsyncioServerInstance, "_start"),),
    ),
    inherited,
)
