"""TLS bytes on the plain listener are answered as HTTP (400), as nginx does, not as TLS.

In reverse mode mitmproxy starts a TLS handshake on *any* listener whose client
begins with a TLS record. The plain listener has no certificate, so the
handshake was refused or waited for the rest of a ClientHello: no answer the
client could read, and no record (issue 15, finding 11). Only the `--tls`
listener (`optout_tls_listener`, set by the runner) does TLS now; on the plain
one the bytes go to the HTTP layer, whose strict framing (`framing`) answers
400 and logs it.

Upstream: no issue or PR found; mitmproxy treats TLS detection on every
listener as a feature (one port for http and https).
"""

from __future__ import annotations

import functools
from typing import Any

from mitmproxy.addons import next_layer

from proxy.engine.patches.checks import Patch, Target
from proxy.engine.patches.state import PatchState

TLS_LISTENER_OPTION = "optout_tls_listener"  # declared by addons.sites


def plain_stays_plain(setup: Any, state: PatchState) -> Any:
    original = setup.__func__

    @functools.wraps(original)
    def set_up(context: Any, data_client: bytes) -> Any:
        tls_listener = getattr(context.options, TLS_LISTENER_OPTION, "")
        if context.client.proxy_mode.full_spec != tls_listener:
            data_client = b""  # read only to look for a TLS record
        return original(context, data_client)

    return staticmethod(set_up)


PATCH = Patch(
    "no TLS on the plain listener",
    Target(
        next_layer.NextLayer,
        "_setup_reverse_proxy",
        used_by=((next_layer.NextLayer, "_next_layer"),),
    ),
    plain_stays_plain,
)
