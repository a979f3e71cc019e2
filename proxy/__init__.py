"""optout-proxy: reserve text-and-data-mining rights in front of a label's website.

The package is an engine-independent core (catalogue, policy, classification,
decision, signals, access log) plus the CLI and the runner that embeds mitmproxy.
Only `proxy.engine.runner` and `proxy.demo` may import mitmproxy or aiohttp; a lint rule
(ruff TID251) and a test enforce it.
"""

from __future__ import annotations

__version__ = "0.1.0"
