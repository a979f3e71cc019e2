"""The `<license>` a client posts: usage read, everything else refused with a message."""

from __future__ import annotations

import pytest

from proxy.licensing.rslrequest import MAX_LICENSE, parse_license

NS = 'xmlns="https://rslstandard.org/rsl"'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f'<license {NS}><permits type="usage">ai-train search</permits></license>',
         ("ai-train", "search")),
        ('<license><permits type="usage">ai-input</permits>'
         '<permits type="user">commercial</permits></license>', ("ai-input",)),
        (f'<license {NS}><permits type="usage">ai-train ai-train</permits></license>',
         ("ai-train",)),
    ],
)  # fmt: skip
def test_usage(text: str, expected: tuple[str, ...]) -> None:
    assert parse_license(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<license>", "not an RSL <license> element"),
        ("<rsl/>", "not an RSL <license> element"),
        ('<!DOCTYPE x [<!ENTITY a "b">]><license/>', "DOCTYPE"),
        ("<license/>", "names no usage"),
        ('<license><permits type="usage">mine-all</permits></license>', "unknown usage"),
        ("<license>" + "x" * MAX_LICENSE + "</license>", "too large"),
    ],
)
def test_refused(text: str, message: str) -> None:
    answer = parse_license(text)
    assert isinstance(answer, str)
    assert message in answer
