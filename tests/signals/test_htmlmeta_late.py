"""Upstream tdm metas the head scan does not reach: after 64 KiB of head, or in <body>."""

from __future__ import annotations

import pytest

from proxy.signals.htmlmeta import MetaTags, inject

TAGS = MetaTags("1", None, (), None)
OURS = '<meta name="tdm-reservation" content="1">'
THEIRS = '<meta name="tdm-reservation" content="0">'
STYLE = "<style>" + "a{color:red}" * 6000 + "</style>"  # 72,000 characters of inline CSS


def run(page: str) -> tuple[str, tuple[str, ...]]:
    result = inject(page.encode(), "utf-8", TAGS)
    return result.body.decode(), result.notes


@pytest.mark.parametrize(
    ("page", "where"),
    [
        (f"<html><head>{STYLE}{THEIRS}</head><body>x</body></html>", "late in <head>"),
        (f"<html><head></head><body><p>x</p>{THEIRS}</body></html>", "in <body>"),
        (f"<html><head></head>{THEIRS}<body></body></html>", "late in <head>"),
        (
            '<html><head></head><body><META Name="TDM-Reservation" content=0></body></html>',
            "in <body>",
        ),
    ],
    ids=["after-64k-of-head", "in-body", "after-head", "case"],
)
def test_a_conflicting_meta_past_the_head_is_removed_and_recorded(page: str, where: str) -> None:
    out, notes = run(page)
    assert out.count("tdm-reservation") + out.count("TDM-Reservation") == 1
    assert OURS in out
    assert len(notes) == 1
    assert notes[0].startswith("removed conflicting upstream tdm-reservation meta (content='0')")
    assert where in notes[0]


@pytest.mark.parametrize(
    "body",
    [
        f"<!-- {THEIRS} -->",
        f"<script>var s = '{THEIRS}';</script>",
        f"<textarea>{THEIRS}</textarea>",
        "<p>We honour tdm-reservation headers.</p>",
        '<a title="tdm-reservation">x</a>',
    ],
    ids=["comment", "script", "textarea", "prose", "attribute"],
)
def test_tdm_text_that_is_not_a_meta_tag_is_left_alone(body: str) -> None:
    page = f"<html><head></head><body>{body}</body></html>"
    out, notes = run(page)
    assert out == page.replace("<head>", "<head>" + OURS, 1)
    assert notes == ()


def test_the_search_is_bounded() -> None:
    page = "<html><head></head><body>" + THEIRS * 1000 + "</body></html>"
    out, notes = run(page)
    assert len(notes) == 32 + 1  # at most 32 hits are looked at, whatever the page holds
    assert notes[-1] == "more than 32 tdm mentions after the head: the rest unread"
    assert out.count(THEIRS) == 1000 - 32
