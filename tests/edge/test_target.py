"""The request target in one form (proxy.edge.target): what is rewritten, what is refused."""

from __future__ import annotations

import pytest

from proxy.edge import BadRequest, Target, normalise_target
from proxy.edge.target import remove_dot_segments


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        # issue 15, finding 1: always-free prefixes walked out of with dot segments
        (b"/.well-known/../music/a.html", "/music/a.html"),
        (b"/.well-known/%2e%2e/music/a.html", "/music/a.html"),
        (b"/.well-known/%2E%2E/music/a.html", "/music/a.html"),
        # finding 2: the spellings of /private/x that nginx served
        (b"/%70rivate/x", "/private/x"),
        (b"//private/x", "/private/x"),
        (b"/./private/x", "/private/x"),
        (b"/a/../private/x", "/private/x"),
        (b"/a/%2e%2e/private/x", "/private/x"),
        (b"/%2e/private/x", "/private/x"),
        (b"/%73ecret.html", "/secret.html"),
        (b"/secret.htm%6c", "/secret.html"),
        (b"/secret.html#x", "/secret.html"),
        # dot segments and slashes, merged in one pass as nginx does
        (b"/", "/"),
        (b"/a/b/..", "/a/"),
        (b"/a/.", "/a/"),
        (b"/a/..", "/"),
        (b"/a//../b", "/b"),
        (b"/a/b//", "/a/b/"),
        (b"/../../a", "/a"),  # above the root stays at the root (RFC 3986 §5.2.4)
        (b"/...", "/..."),
        (b"/a..b/.c", "/a..b/.c"),
        # escapes: unreserved decoded, the rest upper-case; raw non-URI bytes encoded
        (b"/%7e%41%2d%5F", "/~A-_"),
        (b"/%c3%a9", "/%C3%A9"),
        (b"/\xc3\xa9", "/%C3%A9"),
        (b"/a%25", "/a%25"),
        (b"/%2570rivate", "/%2570rivate"),
        (b"/a%20b", "/a%20b"),
        (b"/a%3bb;c", "/a%3Bb;c"),
        (b'/a|b"c{d}', "/a%7Cb%22c%7Bd%7D"),
        (b"/a+b:c@d!$&'()*,=", "/a+b:c@d!$&'()*,="),
    ],
)
def test_paths_are_put_in_one_form(raw: bytes, path: str) -> None:
    assert normalise_target(raw).path == path


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"/private%2fx", "encoded-slash"),
        (b"/.well-known/..%2fmusic/a.html", "encoded-slash"),
        (b"/a/..%2F..%2Fb", "encoded-slash"),
        (b"/a%5c..%5cb", "encoded-backslash"),
        (b"/a\\..\\b", "backslash"),
        (b"/a%00b", "encoded-control"),
        (b"/a%0Ab", "encoded-control"),
        (b"/a%7f", "encoded-control"),
        (b"/a%zz", "invalid-escape"),
        (b"/a%2", "invalid-escape"),
        (b"/a%", "invalid-escape"),
        (b"/a\x00b", "control-byte"),
        (b"/a\x1bb", "control-byte"),
        (b"/a\x7fb", "control-byte"),
        (b"/a b", "control-byte"),
        (b"/a?q=\x01", "control-byte"),
        (b"/a#\x01", "control-byte"),
        (b"/a/..;/private/x", "dot-segment-parameters"),
        (b"/.;x/private", "dot-segment-parameters"),
        (b"private/x", "not-origin-form"),
        (b"", "not-origin-form"),
        (b"*", "not-origin-form"),  # only OPTIONS may ask for "*"
    ],
)
def test_ambiguous_targets_are_refused_with_their_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(BadRequest) as refused:
        normalise_target(raw)
    assert refused.value.reason == reason
    assert refused.value.status == 400
    assert str(refused.value)  # the log's note


@pytest.mark.parametrize(
    ("raw", "query"),
    [
        (b"/a", None),
        (b"/a?", b""),
        (b"/a?x=/../%2f%zz&y=\xc3\xa9", b"x=/../%2f%zz&y=\xc3\xa9"),  # kept as sent
        (b"/a?x=1#frag?y", b"x=1"),
        (b"/a#frag?y", None),
    ],
)
def test_the_query_is_kept_as_sent_and_the_fragment_dropped(
    raw: bytes, query: bytes | None
) -> None:
    target = normalise_target(raw)
    assert (target.path, target.query) == ("/a", query)
    assert bytes(target) == b"/a" + (b"" if query is None else b"?" + query)


def test_options_may_ask_for_the_server_itself() -> None:
    assert normalise_target(b"*", "OPTIONS") == Target("*")


def test_dot_segment_removal_follows_the_rfc_examples() -> None:
    # RFC 3986 §5.2.4's examples, plus merged slashes.
    assert remove_dot_segments("/a/b/c/./../../g") == "/a/g"
    assert remove_dot_segments("/mid/content=5/../6") == "/mid/6"
    assert remove_dot_segments("//a///b") == "/a/b"
