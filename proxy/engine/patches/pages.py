"""The engine's error pages as we send them: what happened, in a sentence, and nothing else.

mitmproxy's own pages name the engine (`Server: mitmproxy`) and quote the
upstream's address and errno; ours carry the reservation headers instead, since
no addon sees these responses to add them.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from mitmproxy import http
from mitmproxy.net.http import status_codes

from proxy.engine.patches.limits import UPSTREAM_TIMEOUT
from proxy.signals.headers import HeaderSignals

MESSAGES = {
    400: "The request could not be understood.",
    413: "The request body is too large.",
    414: "The request line is too long.",
    431: "The request's header fields are too large.",
    502: "The site is temporarily unavailable. Please try again later.",
    504: "The site took too long to answer. Please try again later.",
}


def reservation_headers(signals: HeaderSignals) -> list[tuple[str, str]]:
    """Every reservation header of a response, for pages that no addon sees."""
    robots = [("x-robots-tag", ", ".join(signals.robots_tag))] if signals.robots_tag else []
    return [*signals.set, *robots]


def page_status(status_code: int, message: str) -> int:
    """The status the client gets: the engine says 502 for an upstream we timed out."""
    return 504 if message == UPSTREAM_TIMEOUT else status_code


def error_body(status_code: int, message: str = "") -> bytes:
    """A short page that says what happened; `message` (engine detail) is not shown."""
    reason = html.escape(status_codes.RESPONSES.get(status_code, "Error"))
    text = html.escape(MESSAGES.get(status_code, "The request could not be completed."))
    return (
        f"<!doctype html><html><head><title>{status_code} {reason}</title>"
        f"</head><body><h1>{status_code} {reason}</h1>"
        f"<p>{text}</p></body></html>\n"
    ).encode()


def error_page(status_code: int, extra_headers: Iterable[tuple[str, str]]) -> http.Response:
    headers = http.Headers(content_type="text/html; charset=utf-8", connection="close")
    for name, value in extra_headers:
        headers.add(name, value)
    return http.Response.make(status_code, error_body(status_code), headers)
