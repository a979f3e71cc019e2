"""The addons as the engine drives them, with mitmproxy's test flows."""

from __future__ import annotations

import dataclasses

import pytest
from flows import make_flow, records, run, upstream_response

from addons import default_addons
from addons.classify import client_ip, request_info
from proxy.config.reservation import Override
from proxy.engine.pipeline import BYTES, CLASSIFICATION, RESERVED, SIGNALS, VERDICT, Pipeline
from proxy.model import Action, Identity

GPTBOT = "Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)"


def test_browser_request_is_allowed_and_signalled(pipe: Pipeline) -> None:
    flow = make_flow()
    run(default_addons(pipe), flow, lambda f: upstream_response(f, "text/html", b"<p>hi</p>"))
    assert flow.metadata[CLASSIFICATION].identity is Identity.NONE
    assert flow.metadata[VERDICT].action is Action.ALLOW
    assert flow.response is not None
    assert flow.response.headers["tdm-reservation"] == "1"
    assert flow.response.headers["x-robots-tag"] == "noai, noimageai"
    assert not flow.response.stream  # small HTML is buffered for meta injection
    (record,) = records(pipe)
    sent = len(flow.response.raw_content or b"")
    assert sent > 9  # the meta tags were added
    assert record["http"] == {
        "request": {"method": "GET"},
        "response": {"status_code": 200, "body": {"bytes": sent}},
    }


def test_ai_training_crawler_is_blocked_before_upstream(pipe: Pipeline) -> None:
    flow = make_flow(GPTBOT, accept="text/html")
    upstream_called = []
    run(default_addons(pipe), flow, upstream_called.append)
    assert upstream_called == []
    assert flow.response is not None
    assert flow.response.status_code == 403
    assert flow.response.headers["content-type"].startswith("text/html")
    assert flow.response.headers["content-usage"] == "train-ai=n"
    assert b"block-ai-training" in flow.response.content
    (record,) = records(pipe)
    assert record["optout"]["agent"] == "GPTBot"
    assert record["http"]["response"]["body"]["bytes"] == len(flow.response.content)


@pytest.mark.parametrize("path", ["/sitemap.xml", "/sitemap-1.xml.gz", "/robots.txt"])
def test_a_blocked_crawler_still_reaches_the_sitemaps(pipe: Pipeline, path: str) -> None:
    flow = make_flow(GPTBOT, path=path)
    run(default_addons(pipe), flow, lambda f: upstream_response(f, "application/xml", b"<x/>"))
    assert flow.response is not None
    assert flow.response.status_code == 200
    assert flow.metadata[VERDICT].rule == "always-free"
    (record,) = records(pipe)
    assert record["event"]["action"] == "allow"


@pytest.mark.parametrize(
    ("content_type", "length", "streams"),
    [
        ("audio/mpeg", 10, True),
        ("image/png", 10, True),
        ("application/zip", 10, True),
        ("text/html; charset=utf-8", 10, False),
        ("text/html", 5000, True),  # over the HTML limit
        ("", 10, True),
    ],
)
def test_what_streams(pipe: Pipeline, content_type: str, length: int, streams: bool) -> None:
    flow = make_flow()
    run(default_addons(pipe), flow, lambda f: upstream_response(f, content_type, b"x" * length))
    assert flow.response is not None
    assert bool(flow.response.stream) is streams
    assert flow.response.headers["tdm-reservation"] == "1"
    if streams:
        assert flow.metadata[BYTES] == length
    (record,) = records(pipe)
    sent = length if streams else len(flow.response.raw_content or b"")
    assert record["http"]["response"]["body"]["bytes"] == sent


def test_upstream_values_are_overridden_or_merged(pipe: Pipeline) -> None:
    flow = make_flow()
    run(
        default_addons(pipe),
        flow,
        lambda f: upstream_response(
            f, "image/png", tdm_reservation="0", x_robots_tag="noindex", link="</a>; rel=next"
        ),
    )
    assert flow.response is not None
    headers = flow.response.headers
    assert headers["tdm-reservation"] == "1"
    assert headers["x-robots-tag"] == "noindex, noai, noimageai"
    licence = '<https://label.example/licensing>; rel="license"; type="application/rsl+xml"'
    assert headers.get_all("link") == ["</a>; rel=next", licence]
    assert "x-robots-tag" in flow.metadata[SIGNALS]


@pytest.mark.parametrize(
    ("content_type", "reserved"),
    [
        ("audio/mpeg", True),
        ("AUDIO/ogg; codecs=opus", True),
        ("text/html", False),
        ("image/png", False),
    ],
)
def test_a_content_type_override_reserves_media_on_an_open_site(
    pipe: Pipeline, content_type: str, reserved: bool
) -> None:
    policy = pipe.ruleset.policy
    media = Override("media", True, content_types=("audio/*",))
    reservation = dataclasses.replace(policy.reservation, reserved=False, overrides=(media,))
    pipe.ruleset = dataclasses.replace(
        pipe.ruleset, policy=dataclasses.replace(policy, reservation=reservation)
    )
    flow = make_flow(path="/music/track")
    run(default_addons(pipe), flow, lambda f: upstream_response(f, content_type, b"x"))
    assert flow.response is not None
    assert flow.response.headers["tdm-reservation"] == ("1" if reserved else "0")
    assert flow.response.headers["content-usage"] == ("train-ai=n" if reserved else "train-ai=y")
    assert flow.metadata[RESERVED] is reserved


def test_upstream_error_is_logged(pipe: Pipeline) -> None:
    flow = make_flow()
    for addon in default_addons(pipe):
        if hasattr(addon, "requestheaders"):
            addon.requestheaders(flow)
    from mitmproxy.flow import Error

    flow.error = Error("Connection refused")
    for addon in default_addons(pipe):
        if hasattr(addon, "error"):
            addon.error(flow)
    (record,) = records(pipe)
    assert record["error"] == {"message": "Connection refused"}
    assert record["event"]["action"] == "allow"
    assert "status_code" not in record["http"].get("response", {})  # no empty objects


def test_a_flow_is_logged_once(pipe: Pipeline) -> None:
    flow = make_flow()
    log = default_addons(pipe)[-1]
    run(default_addons(pipe), flow, lambda f: upstream_response(f, "text/plain", b"x"))
    log.error(flow)
    assert len(records(pipe)) == 1


def test_handled_flows_are_left_alone(pipe: Pipeline) -> None:
    flow = make_flow(GPTBOT)
    upstream_response(flow, "text/plain", b"set by another addon")
    for addon in default_addons(pipe):
        if hasattr(addon, "requestheaders"):
            addon.requestheaders(flow)
    assert VERDICT not in flow.metadata
    assert flow.response.status_code == 200


@pytest.mark.parametrize(
    ("peer", "expected"),
    [
        (("203.0.113.5", 1234), "203.0.113.5"),
        (("::ffff:203.0.113.5", 1234, 0, 0), "203.0.113.5"),
        (("2001:db8::1", 1234, 0, 0), "2001:db8::1"),
    ],
)
def test_client_ip_is_normalised(peer: tuple[object, ...], expected: str) -> None:
    flow = make_flow()
    flow.client_conn.peername = peer
    assert client_ip(flow) == expected


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("label.example:8080", "label.example"),
        ("LABEL.example", "label.example"),
        ("[::1]:8080", "::1"),
        ("", ""),
    ],
)
def test_request_host_drops_the_port(host: str, expected: str) -> None:
    flow = make_flow(path="/a?b=c")
    flow.request.headers["host"] = host
    info = request_info(flow)
    assert info.host == expected
    assert info.path == "/a"


def test_html_gets_the_meta_tags(pipe: Pipeline) -> None:
    page = b"<html><head><title>t</title></head><body>x</body></html>"
    flow = make_flow()
    run(default_addons(pipe), flow, lambda f: upstream_response(f, "text/html", page))
    assert flow.response is not None
    body = flow.response.content or b""
    assert b'<meta name="tdm-reservation" content="1">' in body
    assert b'<meta name="robots" content="noai, noimageai">' in body
    (record,) = records(pipe)
    assert record["http"]["response"]["body"]["bytes"] == len(body)


def test_broken_content_encoding_passes_untouched(pipe: Pipeline) -> None:
    flow = make_flow()
    garbage = b"\x1f\x8b this is not gzip"
    run(
        default_addons(pipe),
        flow,
        lambda f: upstream_response(f, "text/html", garbage, content_encoding="gzip"),
    )
    assert flow.response is not None
    assert flow.response.raw_content == garbage
    assert flow.response.headers["tdm-reservation"] == "1"
    (record,) = records(pipe)
    assert record["optout"]["notes"] == ["undecodable Content-Encoding: page passed untouched"]


def test_block_page_and_head_requests_are_not_rewritten(pipe: Pipeline) -> None:
    flow = make_flow(GPTBOT, accept="text/html")
    run(default_addons(pipe), flow)
    assert flow.response is not None
    assert b"tdm-reservation" not in (flow.response.content or b"")
    head = make_flow()
    head.request.method = "HEAD"
    run(default_addons(pipe), head, lambda f: upstream_response(f, "text/html", b""))
    assert head.response is not None
    assert head.response.content == b""
