"""What a client's recent requests show: a high rate, and a crawl without robots.txt.

Two signals of behaviour, added to a request's consistency signals (so `signals:`
rules, the record's `optout.signals_seen` and the suspicion score all see them):

- ``high-rate``: the client address is over RATE requests a second, sustained past
  a burst of BURST (a token bucket of proxy.decision.throttle, which also bounds
  its memory). A page with a hundred images does not reach it; a scraper
  fetching the catalogue as fast as the site answers does.
- ``no-robots-crawl``: the request belongs to a crawl-like sequence and the client
  address requested no /robots.txt in the ROBOTS_MEMORY before it. A crawl-like
  sequence is CRAWL_PAGES different page paths within CRAWL_WINDOW seconds from one
  address, the window starting at its first page; the signal fires on the
  CRAWL_PAGES-th page and on every page after it in that window. A page is a GET or
  HEAD whose last path segment has no file extension or an HTML one (.html, .php,
  …): subresources (CSS, images, audio) never count, so one page view is one page.

Different paths are told apart by 32 bits of their hashes, at most CRAWL_PAGES of
them kept per client in one bytes object (two paths of a client's ten share 32 bits
about once in 100 million crawls, and then only count as one). An IPv6 client is
its /64, since one host is given a whole /64 to rotate through. Memory is bounded:
at most MAX_CLIENTS clients, the least recently seen forgotten first.
"""

from __future__ import annotations

import socket
import time
from collections import OrderedDict
from collections.abc import Callable

from proxy.config.weights import HIGH_RATE, NO_ROBOTS_CRAWL
from proxy.decision.throttle import Throttle

RATE = 10.0  # requests a second, sustained, per client address
BURST = 100
CRAWL_PAGES = 10
CRAWL_WINDOW = 60.0  # seconds
ROBOTS_MEMORY = 24 * 3600.0  # how long a robots.txt fetch counts as "before"
MAX_CLIENTS = 50_000  # about 460 bytes each (tracemalloc): 23 MB at most
SIGNALS = frozenset({HIGH_RATE, NO_ROBOTS_CRAWL})
ROBOTS_PATH = "/robots.txt"
_PAGE_EXTENSIONS = frozenset({"html", "htm", "shtml", "xhtml", "php", "asp", "aspx", "jsp"})
_NONE = frozenset[str]()
_RATE_ONLY = frozenset({HIGH_RATE})
_CRAWL_ONLY = frozenset({NO_ROBOTS_CRAWL})


def is_page(method: str, path: str) -> bool:
    """A GET or HEAD of a document rather than of a subresource, by its last segment."""
    if method not in ("GET", "HEAD"):
        return False
    last = path.rpartition("/")[2]
    _, dot, extension = last.rpartition(".")
    return not dot or extension.lower() in _PAGE_EXTENSIONS


def client_key(address: str) -> str | bytes:
    """An IPv6 address's /64 (its first 8 bytes); anything else as it is."""
    try:
        return socket.inet_pton(socket.AF_INET6, address)[:8]
    except OSError:
        return address


_FULL = 4 * CRAWL_PAGES


def _holds(paths: bytes, digest: bytes) -> bool:
    """Whether one of the 4-byte entries of `paths` is `digest` (not a match across two)."""
    at = paths.find(digest)
    while at > 0 and at % 4:
        at = paths.find(digest, at + 1)
    return at >= 0


class _Client:
    __slots__ = ("paths", "robots_at", "started")

    def __init__(self) -> None:
        self.started = float("-inf")  # when the current crawl window began
        self.paths = b""  # 4-byte hashes of its different pages, up to CRAWL_PAGES
        self.robots_at = float("-inf")  # the last /robots.txt request


class Activity:
    """Per client address: a rate bucket and the current crawl window."""

    def __init__(
        self, max_clients: int = MAX_CLIENTS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_clients < 1:
            raise ValueError(f"max_clients {max_clients!r} must be at least 1")
        self.max_clients = max_clients
        self._clock = clock
        self._rate = Throttle(RATE, BURST, max_clients, clock)
        self._clients: OrderedDict[str | bytes, _Client] = OrderedDict()

    def __len__(self) -> int:
        return len(self._clients)

    def observe(self, client: str, method: str, path: str) -> frozenset[str]:
        """Count one request of `client` (an address); the behaviour signals it shows."""
        if not client:
            return _NONE
        key = client_key(client) if ":" in client else client
        fast = not self._rate.take(key).allowed
        now = self._clock()
        entry = self._clients.get(key)
        if entry is None:
            if len(self._clients) >= self.max_clients:
                self._clients.popitem(last=False)
            entry = self._clients[key] = _Client()
        else:
            self._clients.move_to_end(key)
        if path == ROBOTS_PATH:
            entry.robots_at = now
        elif is_page(method, path):
            if now - entry.started > CRAWL_WINDOW:
                entry.started, entry.paths = now, b""
            paths = entry.paths
            if len(paths) < _FULL:
                digest = (hash(path) & 0xFFFFFFFF).to_bytes(4, "little")
                if not _holds(paths, digest):
                    paths = entry.paths = paths + digest
            if len(paths) >= _FULL and now - entry.robots_at > ROBOTS_MEMORY:
                return SIGNALS if fast else _CRAWL_ONLY
        return _RATE_ONLY if fast else _NONE
