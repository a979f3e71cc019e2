"""The Host in one form, and one Host per request (proxy.edge.host)."""

from __future__ import annotations

import pytest

from proxy.edge import BadRequest, checked_host, normalise_host


@pytest.mark.parametrize(
    ("value", "host"),
    [
        ("archive.label.example.", "archive.label.example"),  # issue 15, finding 4
        ("Archive.Label.EXAMPLE", "archive.label.example"),
        ("label.example.:8080", "label.example:8080"),
        ("label.example:080", "label.example:80"),
        ("label.example:", "label.example"),
        ("127.0.0.1:8080", "127.0.0.1:8080"),
        ("[::1]:8080", "[::1]:8080"),
        ("[2001:DB8::1]", "[2001:db8::1]"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("my_host", "my_host"),
    ],
)
def test_hosts_are_put_in_one_form(value: str, host: str) -> None:
    assert normalise_host(value) == host


@pytest.mark.parametrize(
    "value",
    [
        "label.example..",  # only one trailing dot is stripped: "label.example." would stay
        "a..b",
        ".label.example",
        ".",
        ":80",
        "a/b",
        "a\\b",
        "user@label.example",
        "label.example:http",
        "label.example:99999",
        "label.example:80:80",
        "a b",
        "a,b",
        "bücher.example",
        "[::1",
        "[::1]x",
        "[fe80::1%25eth0]",
    ],
)
def test_what_is_not_a_host_is_refused(value: str) -> None:
    with pytest.raises(BadRequest) as refused:
        normalise_host(value)
    assert refused.value.reason == "invalid-host"


def test_two_host_fields_are_refused() -> None:
    with pytest.raises(BadRequest) as refused:
        checked_host(["label.example", "label.example"])
    assert refused.value.reason == "duplicate-host"


@pytest.mark.parametrize(
    ("fields", "authority", "scheme", "host"),
    [
        ([], "", "http", ""),
        ([""], "", "http", ""),  # HTTP/1.1 allows an empty Host
        (["Label.Example."], "", "http", "label.example"),
        ([], "Label.Example.", "http", "label.example"),
        (["label.example"], "LABEL.example.", "http", "label.example"),
        (["label.example:80"], "label.example", "http", "label.example"),
        (["label.example"], "label.example:443", "https", "label.example:443"),
        ([""], "label.example", "http", "label.example"),
    ],
)
def test_a_host_may_repeat_the_authority(
    fields: list[str], authority: str, scheme: str, host: str
) -> None:
    assert checked_host(fields, authority, scheme) == host


@pytest.mark.parametrize(
    ("fields", "authority", "scheme"),
    [
        (["other.example"], "label.example", "http"),
        (["label.example:8080"], "label.example", "http"),
        (["label.example:80"], "label.example", "https"),
    ],
)
def test_a_host_that_contradicts_the_authority_is_refused(
    fields: list[str], authority: str, scheme: str
) -> None:
    with pytest.raises(BadRequest) as refused:
        checked_host(fields, authority, scheme)
    assert refused.value.reason == "conflicting-host"
