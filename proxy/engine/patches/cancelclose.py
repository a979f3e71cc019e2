"""Close the connection of a handler cancelled before it could close it itself.

`ConnectionHandler.handle_connection` awaits the engine's event lock
(`server_event`) outside the `try` that handles cancellation, so a handler
cancelled while it waits never closes its socket: a client refused with 413
while its body was still arriving waited for ever. We close it.

Upstream: no issue or PR found (#5034, fixed by #5040, was another
cancellation path: draining a writer).
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from mitmproxy.proxy import server

from proxy.engine.patches.checks import Patch, Target
from proxy.engine.patches.state import PatchState


def always_closed(handle_connection: Any, state: PatchState) -> Any:
    @functools.wraps(handle_connection)
    async def handled(self: Any, connection: Any) -> None:
        try:
            await handle_connection(self, connection)
        except asyncio.CancelledError:
            io = self.transports.pop(connection, None)  # None: it cleaned up itself
            if io is not None and io.writer is not None:
                io.writer.close()
            raise

    return handled


PATCH = Patch(
    "cancelled connections closed",
    Target(
        server.ConnectionHandler,
        "handle_connection",
        used_by=(
            (server.ConnectionHandler, "handle_client"),
            (server.ConnectionHandler, "open_connection"),
        ),
    ),
    always_closed,
)
