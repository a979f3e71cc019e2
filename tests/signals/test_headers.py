"""Reservation headers: rendered once, standards-exact, merged with upstream values."""

from __future__ import annotations

import http_sf
import pytest

from proxy.config.reservation import Reservation
from proxy.signals.headers import (
    HeaderSignals,
    added_fields,
    apply,
    build_header_signals,
    build_meta_tags,
    merge_robots_tag,
)
from proxy.signals.htmlmeta import MetaTags

FULL = Reservation(
    tdm_policy="https://label.example/tdm.json",
    licence="https://label.example/licence",
    content_usage=(("search", "y"),),
)


def test_full_reservation_headers() -> None:
    signals = build_header_signals(FULL, reserved=True)
    assert dict(signals.set) == {
        "tdm-reservation": "1",
        "tdm-policy": "https://label.example/tdm.json",
        "content-usage": "train-ai=n, search=y",
        "link": '<https://label.example/licence>; rel="license"; type="application/rsl+xml"',
    }
    assert signals.robots_tag == ("noai", "noimageai")
    assert signals.names == (
        "tdm-reservation",
        "tdm-policy",
        "content-usage",
        "link-license",
        "x-robots-tag",
    )


def test_content_usage_is_an_rfc9651_dictionary_of_tokens() -> None:
    value = dict(build_header_signals(FULL, reserved=True).set)["content-usage"]
    parsed = http_sf.parse(value.encode(), tltype="dictionary")
    assert {k: str(v[0]) for k, v in parsed.items()} == {"train-ai": "n", "search": "y"}


def test_default_reservation_is_train_ai_n_and_noai() -> None:
    signals = build_header_signals(Reservation(), reserved=True)
    assert dict(signals.set) == {"tdm-reservation": "1", "content-usage": "train-ai=n"}
    assert signals.robots_tag == ("noai", "noimageai")


def test_unreserved_answer_says_so_without_a_policy() -> None:
    signals = build_header_signals(FULL, reserved=False)
    assert dict(signals.set) == {
        "tdm-reservation": "0",
        "content-usage": "train-ai=y, search=y",
        "link": '<https://label.example/licence>; rel="license"; type="application/rsl+xml"',
    }
    assert signals.robots_tag == ()
    assert signals.names == ("tdm-reservation", "content-usage", "link-license")


def test_disabled_reservation_sends_nothing() -> None:
    signals = build_header_signals(Reservation(enabled=False), reserved=True)
    assert (signals.set, signals.robots_tag, signals.names) == ((), (), ())


@pytest.mark.parametrize(
    ("existing", "merged"),
    [
        (None, "noai, noimageai"),
        ("", "noai, noimageai"),
        ("noindex", "noindex, noai, noimageai"),
        ("NOAI, nofollow", "NOAI, nofollow, noimageai"),
        ("noai, noimageai", "noai, noimageai"),
        ("googlebot: noindex", "googlebot: noindex, noai, noimageai"),
    ],
)
def test_merge_robots_tag(existing: str | None, merged: str) -> None:
    assert merge_robots_tag(existing, ("noai", "noimageai")) == merged


def test_apply_overrides_contradicting_upstream_values() -> None:
    headers = {"tdm-reservation": "0", "x-robots-tag": "noindex"}
    added: list[tuple[str, str]] = []
    apply(
        build_header_signals(FULL, reserved=True),
        headers.get,
        headers.__setitem__,
        lambda k, v: added.append((k, v)),
    )
    assert headers["tdm-reservation"] == "1"
    assert headers["x-robots-tag"] == "noindex, noai, noimageai"
    assert added == [
        ("link", '<https://label.example/licence>; rel="license"; type="application/rsl+xml"')
    ]


def _applied(signals: HeaderSignals, fields: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """`apply` on a list of fields, with put/add as a multidict does them."""

    def get(name: str) -> str | None:
        values = [v for k, v in fields if k == name]
        return ", ".join(values) if values else None

    def put(name: str, value: str) -> None:
        fields[:] = [(k, v) for k, v in fields if k != name] + [(name, value)]

    apply(signals, get, put, lambda name, value: fields.append((name, value)))
    return fields


@pytest.mark.parametrize("reserved", [True, False])
def test_added_fields_are_what_apply_gives_a_response_without_our_headers(reserved: bool) -> None:
    signals = build_header_signals(FULL, reserved=reserved)
    fields = [("content-type", "text/html"), ("content-length", "5")]
    added = added_fields(signals, tuple((k.encode(), v.encode()) for k, v in fields))
    assert added is not None
    assert [(k.decode(), v.decode()) for k, v in added] == _applied(signals, list(fields))


@pytest.mark.parametrize("name", [b"tdm-reservation", b"Content-Usage", b"LINK", b"x-robots-tag"])
def test_added_fields_leave_a_response_with_any_of_our_headers_to_apply(name: bytes) -> None:
    signals = build_header_signals(FULL, reserved=True)
    assert added_fields(signals, ((b"content-type", b"text/html"), (name, b"x"))) is None


def test_meta_tags_say_what_the_headers_say() -> None:
    licence = "https://label.example/licence"
    assert build_meta_tags(FULL, reserved=True) == MetaTags(
        "1", "https://label.example/tdm.json", ("noai", "noimageai"), licence
    )
    # an open answer: no policy, no robots directives, but still the licence on offer
    assert build_meta_tags(FULL, reserved=False) == MetaTags("0", None, (), licence)
    assert build_meta_tags(Reservation(enabled=False), reserved=True) is None
