"""Normalisation on generated targets: one pass is enough, and its output is in the one form.

Targets are drawn from the characters that make paths ambiguous (dots, slashes,
escapes of every kind, `;`, `#`, `?`, non-ASCII bytes) as well as from any byte.
Whatever is not refused must come out idempotent, without dot segments, `//` or
lower-case escapes, and must name the same bytes as the fully decoded input would
once an origin resolved it.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from hypothesis import example, given, settings
from hypothesis import strategies as st

from proxy.edge import BadRequest, normalise_target

# derandomize: CI runs the same examples every time (as tests/property does).
SETTINGS = settings(max_examples=1000, database=None, deadline=None, derandomize=True)
PIECES = st.sampled_from(
    [
        "/",
        "//",
        ".",
        "..",
        "a",
        "B",
        "%2e",
        "%2E",
        "%2f",
        "%41",
        "%7e",
        "%c3%a9",
        "%25",
        "%3b",
        ";",
        "#",
        "?",
        "%",
        "%g",
        "é",
        "\\",
        "%5c",
        "%00",
        "~",
        "|",
        " ",
    ]
)
TARGETS = st.one_of(
    st.lists(PIECES, max_size=12).map(lambda p: ("/" + "".join(p)).encode()),
    st.binary(max_size=24).map(lambda b: b"/" + b),
)
_DOT_SEGMENT = re.compile(r"(^|/)\.\.?(/|$)")
_LOWER_ESCAPE = re.compile(r"%(?![0-9A-F]{2})")


def _normalised(raw: bytes) -> bytes | None:
    try:
        return bytes(normalise_target(raw))
    except BadRequest:
        return None


@SETTINGS
@given(TARGETS)
@example(b"/a/%2e%2e/%2E/b//c/.")
def test_normalisation_is_idempotent(raw: bytes) -> None:
    once = _normalised(raw)
    if once is not None:
        assert _normalised(once) == once


@SETTINGS
@given(TARGETS)
@example(b"/.well-known/%2e%2e//music/%c3%a9")
def test_the_path_has_no_dot_segment_no_double_slash_and_upper_case_escapes(raw: bytes) -> None:
    try:
        path = normalise_target(raw).path
    except BadRequest:
        return
    assert path.startswith("/")
    assert _DOT_SEGMENT.search(path) is None
    assert "//" not in path
    assert _LOWER_ESCAPE.search(path) is None  # every "%" starts an upper-case escape
    assert path.isascii()
    assert path.isprintable()
    assert " " not in path


def _rfc_resolve(path: bytes) -> bytes:
    """RFC 3986 §5.2.4 step by step, as written there, after merging slashes (as nginx does)."""
    data, out = re.sub(rb"/+", b"/", path), b""
    while data:
        if data.startswith((b"../", b"./")):
            data = data.partition(b"/")[2]
        elif data.startswith(b"/./") or data == b"/.":
            data = b"/" + data[3:]
        elif data.startswith(b"/../") or data == b"/..":
            data = b"/" + data[4:]
            out = out[: max(out.rfind(b"/"), 0)]
        elif data in (b".", b".."):
            data = b""
        else:
            end = data.find(b"/", 1)
            end = len(data) if end < 0 else end
            out, data = out + data[:end], data[end:]
    return out


@SETTINGS
@given(TARGETS)
@example(b"/a/%2e%2E/b/%2e/c/..")
def test_the_path_names_what_an_origin_resolves_from_the_decoded_target(raw: bytes) -> None:
    """An origin decodes, then resolves: the normalised path must name the same bytes."""
    try:
        path = normalise_target(raw).path
    except BadRequest:
        return
    sent = re.split(rb"[?#]", raw, maxsplit=1)[0]
    assert unquote_to_bytes(path) == _rfc_resolve(unquote_to_bytes(sent))
