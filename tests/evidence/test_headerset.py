"""The reservation header set kept per response: every value, in the signals' order."""

from __future__ import annotations

from proxy.evidence.headerset import header_set


def test_every_value_under_each_signal_header_in_order() -> None:
    headers = {
        "tdm-reservation": ["1"],
        "content-usage": ["train-ai=n"],
        "link": ["</a>; rel=next", '<https://l.example/lic>; rel="license"'],
        "x-robots-tag": [],
    }
    text = header_set(
        ["tdm-reservation", "content-usage", "link-license", "x-robots-tag"],
        lambda name: headers.get(name, []),
    )
    assert text == (
        b"tdm-reservation: 1\ncontent-usage: train-ai=n\n"
        b'link: </a>; rel=next\nlink: <https://l.example/lic>; rel="license"\n'
    )


def test_no_signal_headers_no_set() -> None:
    assert header_set(["tdm-reservation"], lambda name: []) == b""
    assert header_set([], lambda name: ["x"]) == b""
