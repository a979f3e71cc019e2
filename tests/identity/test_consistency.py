"""The consistency signals, one table row per situation a request can be in."""

from __future__ import annotations

import pytest

from proxy.identity.consistency import (
    AUTOMATION,
    NO_ACCEPT_LANGUAGE,
    SIGNALS,
    UA_HEADERS_MISMATCH,
    UA_TLS_MISMATCH,
    consistency_signals,
)

CHROME = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
HEADLESS = CHROME.replace("Chrome/", "HeadlessChrome/")
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
OLD_CHROME = CHROME.replace("Chrome/131", "Chrome/80")
PAGE = {"accept": "text/html,application/xhtml+xml", "accept-language": "en-GB"}
CHROME_PAGE = PAGE | {
    "sec-ch-ua": '"Chromium";v="131"',
    "sec-fetch-dest": "document",
    "sec-fetch-mode": "navigate",
}


ROWS = [
    ("chrome-as-sent", CHROME, CHROME_PAGE, True, "browser", set()),
    ("chrome-unknown-tls", CHROME, CHROME_PAGE, True, None, set()),
    ("requests-with-chrome-ua", CHROME, CHROME_PAGE, True, "library", {UA_TLS_MISMATCH}),
    ("tool-with-firefox-ua", FIREFOX, PAGE, True, "tool", {UA_TLS_MISMATCH}),
    ("honest-library", "python-requests/2.32", {}, True, "library", set()),
    ("chrome-no-client-hints", CHROME, PAGE, True, "browser", {UA_HEADERS_MISMATCH}),
    (
        "chrome-no-sec-fetch",
        CHROME,
        PAGE | {"sec-ch-ua": "x"},
        True,
        "browser",
        {UA_HEADERS_MISMATCH},
    ),
    ("chrome-over-plain-http", CHROME, PAGE, False, None, set()),
    ("chrome-80-predates-hints", OLD_CHROME, PAGE, True, None, set()),
    ("firefox-sends-no-client-hints", FIREFOX, PAGE, True, "browser", set()),
    (
        "document-without-language",
        FIREFOX,
        {"accept": "text/html"},
        True,
        None,
        {NO_ACCEPT_LANGUAGE},
    ),
    ("image-without-language", FIREFOX, {"accept": "image/avif"}, True, None, set()),
    (
        "sec-fetch-dest-says-not-a-document",
        FIREFOX,
        {"accept": "text/html", "sec-fetch-dest": "iframe"},
        True,
        None,
        set(),
    ),
    ("headless-chrome", HEADLESS, CHROME_PAGE, True, "browser", {AUTOMATION}),
    (
        "phantomjs",
        "Mozilla/5.0 (Unknown; Linux) PhantomJS/2.1.1",
        PAGE,
        False,
        None,
        {AUTOMATION},
    ),
    ("curl-says-curl", "curl/8.11.1", {"accept": "*/*"}, True, "library", set()),
]


@pytest.mark.parametrize(
    ("name", "ua", "headers", "https", "kind", "expected"), ROWS, ids=[r[0] for r in ROWS]
)
def test_signals(
    name: str, ua: str, headers: dict[str, str], https: bool, kind: str | None, expected: set[str]
) -> None:
    assert consistency_signals(ua, headers, https, kind) == expected


def test_vocabulary_names_every_check() -> None:
    assert SIGNALS == {UA_TLS_MISMATCH, UA_HEADERS_MISMATCH, NO_ACCEPT_LANGUAGE, AUTOMATION}
