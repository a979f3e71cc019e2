"""The demo never leaves loopback: no real DNS, no key fetches, no refreshes, no TSA.

A first `make run` should not send a packet anywhere, so a fake Googlebot from
127.0.0.1 is checked against the stub answers of proxy/net/dns.py (loopback is
`localhost`, so it is found spoofed) instead of the system's name servers, and
what would need the internet is switched off. The banner says so.
"""

from __future__ import annotations

import dataclasses

from proxy.net.dns import StubResolver, loopback_resolver
from proxy.settings import Settings

BANNER = (
    "  offline: reverse DNS answers from a stub (127.0.0.1 and ::1 are localhost),\n"
    "  Web Bot Auth key fetches, IP-range refreshes and timestamping are off;\n"
    "  nothing leaves loopback."
)


def offline(settings: Settings) -> tuple[Settings, StubResolver]:
    """`settings` with every outbound lookup off, and the resolver to verify with."""
    quiet = dataclasses.replace(settings, web_bot_auth=False, ipranges_refresh=0, tsa=())
    return quiet, loopback_resolver()
