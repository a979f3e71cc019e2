"""The robots.txt trap's link in HTML pages: one a person never sees or follows.

    <a href="/trap" rel="nofollow" aria-hidden="true" tabindex="-1" hidden></a>

`hidden` takes it out of rendering and the text flow, `aria-hidden` and an empty
text out of the accessibility tree, `tabindex=-1` out of keyboard focus, and
`rel=nofollow` tells well-behaved crawlers not to follow it (robots.txt already
disallows it). It goes just before the last `</body>` (or at the end of a page
without one), so nothing before it moves and the head stays valid. Pages in an
encoding that is not ASCII-compatible (UTF-16/32 BOM) are left unchanged; nothing
here raises on wire input.
"""

from __future__ import annotations

import codecs
import re

_WIDE_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)
_BODY_END = re.compile(rb"</body[\s>]", re.IGNORECASE)
_HTML_END = re.compile(rb"</html[\s>]", re.IGNORECASE)
_TAIL = 64 * 1024  # bytes at the end of the page searched for </body>


def trap_link(path: str) -> bytes:
    """The markup; `path` is a validated policy path (proxy.config.trap), safe in an attribute."""
    return (f'<a href="{path}" rel="nofollow" aria-hidden="true" tabindex="-1" hidden></a>').encode(
        "ascii"
    )


def add_trap_link(body: bytes, path: str) -> bytes | None:
    """`body` with the link added, or None when it is left unchanged."""
    if not body.strip() or body.startswith(_WIDE_BOMS) or b"\x00" in body[:1024]:
        return None
    link = trap_link(path)
    if link in body:
        return None
    start = max(0, len(body) - _TAIL)
    at = _last(_BODY_END, body, start)
    if at is None:
        at = _last(_HTML_END, body, start)
    if at is None:
        at = len(body)
    return body[:at] + link + body[at:]


def _last(pattern: re.Pattern[bytes], body: bytes, start: int) -> int | None:
    starts = [m.start() for m in pattern.finditer(body, start)]
    return starts[-1] if starts else None
