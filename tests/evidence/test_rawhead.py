"""A refused head still tells the log who asked, for what, claiming to be which agent."""

from __future__ import annotations

import pytest

from proxy.evidence.rawhead import head_info
from proxy.requestheaders import host_without_port

GPTBOT = b"Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)"


def test_a_complete_head_with_a_huge_header() -> None:
    head = (
        b"GET /catalogue/release?id=7 HTTP/1.1\r\nHost: Label.Example:8080\r\n"
        b"User-Agent: " + GPTBOT + b"\r\nAccept: text/html\r\nX-Pad: " + b"a" * 20000
    )
    request, query = head_info(head, "203.0.113.9")
    assert request.method == "GET"
    assert request.path == "/catalogue/release"
    assert query == "id=7"
    assert request.host == "label.example"
    assert request.user_agent == GPTBOT.decode()
    assert request.accept == "text/html"
    assert request.client_ip == "203.0.113.9"


def test_a_request_line_cut_off_before_its_end() -> None:
    request, query = head_info(b"GET /search?q=" + b"a" * 9000, "198.51.100.1")
    assert (request.method, request.path, request.host, request.user_agent) == (
        "GET",
        "/search",
        "",
        "",
    )
    assert query == "q=" + "a" * 9000


def test_a_header_line_cut_off_is_not_read() -> None:
    request, _ = head_info(b"GET / HTTP/1.1\r\nHost: a.example\r\nUser-Agent: GPTB", "")
    assert request.host == "a.example"
    assert request.user_agent == ""


def test_absolute_form_and_bare_lf() -> None:
    request, _ = head_info(b"GET http://a.example/x/y HTTP/1.1\nHost: a.example\n", "")
    assert request.path == "/x/y"
    assert request.host == "a.example"


@pytest.mark.parametrize("head", [b"", b"\r\n", b"GARBAGE", b"\xff\xfe \x00\r\n:\r\n"])
def test_garbage_never_raises(head: bytes) -> None:
    request, _ = head_info(head, "")
    assert request.path  # what was sent, decoded as latin-1; "/" when nothing was
    assert request.host == request.user_agent == ""


@pytest.mark.parametrize(
    ("host", "bare"),
    [
        ("Example.ORG", "example.org"),
        ("example.org:8443", "example.org"),
        ("[2001:DB8::1]:443", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("", ""),
    ],
)
def test_host_without_port(host: str, bare: str) -> None:
    assert host_without_port(host) == bare
