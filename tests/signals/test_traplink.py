"""The trap link: one hidden link before </body>, nothing else of the page changed."""

from __future__ import annotations

import codecs

import pytest

from proxy.signals.traplink import add_trap_link, trap_link

LINK = b'<a href="/t" rel="nofollow" aria-hidden="true" tabindex="-1" hidden></a>'


def test_markup() -> None:
    assert trap_link("/t") == LINK


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        (b"<html><body><p>x</p></body></html>", b"<html><body><p>x</p>" + LINK + b"</body></html>"),
        (b"<p>x</p></BODY >\n", b"<p>x</p>" + LINK + b"</BODY >\n"),
        (b"<p>a</p></html>", b"<p>a</p>" + LINK + b"</html>"),
        (b"<p>fragment</p>", b"<p>fragment</p>" + LINK),
        (
            b"<body><script>'</body>'</script></body>",
            b"<body><script>'</body>'</script>" + LINK + b"</body>",
        ),
        (
            "<p>caf\u00e9</p></body>".encode("latin-1"),
            "<p>caf\u00e9</p>".encode("latin-1") + LINK + b"</body>",
        ),
    ],
    ids=["document", "upper-case", "no-body-tag", "fragment", "last-body", "latin-1"],
)
def test_added_before_the_last_body_end(page: bytes, expected: bytes) -> None:
    assert add_trap_link(page, "/t") == expected


@pytest.mark.parametrize(
    "page",
    [
        b"",
        b"   ",
        codecs.BOM_UTF16_LE + "<p>x</p></body>".encode("utf-16-le"),
        b"<p>x</p>" + LINK + b"</body>",
    ],
    ids=["empty", "blank", "utf-16", "already-there"],
)
def test_left_unchanged(page: bytes) -> None:
    assert add_trap_link(page, "/t") is None
