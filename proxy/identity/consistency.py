"""Consistency signals: cheap checks that a client is what its User-Agent says.

A signal never blocks by itself. It is recorded in ``optout.signals_seen`` and a
rule may match it (``signals:``). Each check looks only at what this one request
carried, so a person's ordinary browser never trips one:

- ``ua-tls-mismatch``: the user agent claims a browser, and the TLS fingerprint
  is one the client table (rules/tls/clients.yaml) knows as a library or tool
  (python-requests with a Chrome user agent). Unknown fingerprints say nothing.
- ``ua-headers-mismatch``: a Chromium user agent (Chrome 90 or later) over https
  without ``sec-ch-ua`` or the ``sec-fetch-*`` headers every such Chromium sends.
- ``no-accept-language``: a browser user agent asking for a document (Accept
  names text/html, or sec-fetch-dest is document) without ``Accept-Language``.
- ``automation-token``: the user agent names a headless or automation tool
  (HeadlessChrome, PhantomJS, Puppeteer, Playwright, Selenium, …).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

UA_TLS_MISMATCH = "ua-tls-mismatch"
UA_HEADERS_MISMATCH = "ua-headers-mismatch"
NO_ACCEPT_LANGUAGE = "no-accept-language"
AUTOMATION = "automation-token"

SIGNALS: frozenset[str] = frozenset(
    {UA_TLS_MISMATCH, UA_HEADERS_MISMATCH, NO_ACCEPT_LANGUAGE, AUTOMATION}
)

BROWSER = "browser"  # the `kind` of a client table entry that is a browser

# Browsers put "Mozilla/5.0 (" first and a rendering engine after it; libraries
# that copy a browser's string copy that too, which is what the checks are for.
_ENGINES = ("Chrome/", "Chromium/", "Firefox/", "Safari/", "Edg/")
_CHROMIUM_UA = re.compile(r"\b(?:Chrome|Chromium|HeadlessChrome)/(\d+)")
_AUTOMATION = (
    "headlesschrome", "phantomjs", "puppeteer", "playwright", "selenium", "webdriver",
    "slimerjs", "electron/",
)  # fmt: skip
_CLIENT_HINTS_SINCE = 90  # Chrome 89 shipped sec-ch-ua; sec-fetch-* is older still


def claims_browser(user_agent: str) -> bool:
    """Substring tests, not a regex: this runs on every request."""
    return user_agent.startswith("Mozilla/5.0 (") and any(e in user_agent for e in _ENGINES)


def chromium_major(user_agent: str) -> int | None:
    """The Chromium major version a user agent claims, None for others (Firefox, libraries)."""
    if "Firefox/" in user_agent:
        return None
    found = _CHROMIUM_UA.search(user_agent)
    return int(found.group(1)) if found else None


def consistency_signals(
    user_agent: str, headers: Mapping[str, str], https: bool, tls_kind: str | None
) -> frozenset[str]:
    """The signals one request shows.

    `headers` answer lower-case names (a dict of them, or mitmproxy's case-insensitive
    Headers); `tls_kind` is the client table's kind for the request's fingerprint (None:
    no fingerprint, or one the table does not know).
    """
    found: set[str] = set()
    browser = claims_browser(user_agent)
    if browser and tls_kind is not None and tls_kind != BROWSER:
        found.add(UA_TLS_MISMATCH)
    major = chromium_major(user_agent) if browser else None
    if https and major is not None and major >= _CLIENT_HINTS_SINCE:
        fetch = any(name.lower().startswith("sec-fetch-") for name in headers)
        if "sec-ch-ua" not in headers or not fetch:
            found.add(UA_HEADERS_MISMATCH)
    if browser and is_document_request(headers) and not headers.get("accept-language"):
        found.add(NO_ACCEPT_LANGUAGE)
    lowered = user_agent.lower()
    if any(token in lowered for token in _AUTOMATION):
        found.add(AUTOMATION)
    return frozenset(found)


def is_document_request(headers: Mapping[str, str]) -> bool:
    dest = headers.get("sec-fetch-dest")
    if dest is not None:
        return dest == "document"
    return "text/html" in headers.get("accept", "")
