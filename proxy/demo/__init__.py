"""Demo upstream: a fictional record label's website to put behind the proxy.

It exists so demos, integration tests and benchmarks have a realistic origin
(HTML pages, MP3 and PNG media, the label's own robots.txt, a large streamed
download) without depending on any real site.
"""

from __future__ import annotations

from proxy.demo.site import bound_port, make_app, serve

__all__ = ["bound_port", "make_app", "serve"]
