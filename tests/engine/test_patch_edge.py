"""The pure parts of the edge patches: which heads are interim, how an HTTP/2 head is measured."""

from __future__ import annotations

import h2.utilities
import pytest
from h2.exceptions import ProtocolError
from h11._receivebuffer import ReceiveBuffer

from proxy.engine.patches import MAX_HEAD, oversize_status
from proxy.engine.patches.h2head import as_h1_head
from proxy.engine.patches.h2host import named_host
from proxy.engine.patches.interim import drop_interim, is_interim
from proxy.engine.patches.validation import refused_reason


@pytest.mark.parametrize(
    ("start", "interim"),
    [
        (b"HTTP/1.1 103 Early Hints\r\n", True),
        (b"HTTP/1.1 100 Continue\r\n", True),
        (b"HTTP/1.0 102\r\n", True),
        (b"HTTP/1.1 199 x", True),
        (b"HTTP/1.1 103", True),  # the rest of the line still to come
        (b"HTTP/1.1 101 Switching Protocols\r\n", False),  # final: the connection changes
        (b"HTTP/1.1 200 OK\r\n", False),
        (b"HTTP/1.1 1000 x\r\n", False),
        (b"HTTP/1.1 10", False),
        (b"HTTP/2 103\r\n", False),
        (b"SSH-2.0 103\r\n", False),
    ],
)
def test_is_interim(start: bytes, interim: bool) -> None:
    assert is_interim(start) is interim


def _buffer(data: bytes) -> ReceiveBuffer:
    buf = ReceiveBuffer()
    buf += data
    return buf


FINAL = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


def test_every_complete_interim_head_is_dropped_and_the_final_one_kept() -> None:
    buf = _buffer(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + FINAL
    )
    assert drop_interim(buf)
    assert bytes(buf) == FINAL


def test_an_incomplete_interim_head_waits_for_more() -> None:
    buf = _buffer(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n")
    assert not drop_interim(buf)
    buf += b"\r\n" + FINAL
    assert drop_interim(buf)
    assert bytes(buf) == FINAL


def test_a_final_head_is_left_alone() -> None:
    data = FINAL + b"HTTP/1.1 103 Early Hints\r\n\r\n"  # a 103 after the final head stays
    buf = _buffer(data)
    assert drop_interim(buf)
    assert bytes(buf) == data


def test_an_http2_head_is_measured_as_the_http1_head_it_becomes() -> None:
    fields = [
        (b":method", b"GET"),
        (b":scheme", b"https"),
        (b":authority", b"a.test"),
        (b":path", b"/x?y"),
        (b"user-agent", b"GPTBot"),
    ]
    head = as_h1_head(fields)
    assert head == b"GET /x?y HTTP/2.0\r\nhost: a.test\r\nuser-agent: GPTBot\r\n\r\n"
    assert oversize_status(head) is None
    assert oversize_status(as_h1_head([*fields, (b"x", b"a" * MAX_HEAD)])) == 431
    assert oversize_status(as_h1_head([(b":path", b"/" + b"a" * 9000)])) == 414


def test_h2_still_requires_a_host_but_leaves_conflicts_to_the_edge() -> None:
    both = [(b":authority", b"a.test"), (b"host", b"b.test"), (b"host", b"c.test")]
    assert list(named_host(both)) == both
    assert list(named_host([(b"host", b"a.test")])) == [(b"host", b"a.test")]
    with pytest.raises(ProtocolError):
        list(named_host([(b":path", b"/")]))


def test_h2_checks_the_host_of_requests_only() -> None:
    flags = h2.utilities.HeaderValidationFlags(
        is_client=True, is_trailer=False, is_response_header=True, is_push_promise=False
    )
    response = [(b":status", b"200")]
    assert list(h2.utilities._check_host_authority_header(response, flags)) == response


def test_refused_reasons() -> None:
    assert refused_reason("CONNECT") == "connect"
    assert refused_reason("connect") == "connect"
    assert refused_reason("POST") == "framing"


def test_only_a_bad_body_that_was_answered_gets_the_400_on_its_flow() -> None:
    from mitmproxy.proxy.layers.http._events import ErrorCode, RequestProtocolError

    from proxy.engine.patches.badbody import answered_bad_body

    def error(message: str) -> RequestProtocolError:
        return RequestProtocolError(1, message, ErrorCode.GENERIC_CLIENT_ERROR)

    assert answered_bad_body(error("HTTP/1 protocol error: illegal chunk header: b'zz'"))
    cut = "HTTP/1 protocol error: peer closed connection without sending complete message body"
    assert not answered_bad_body(error(cut))
    assert not answered_bad_body(error("Client disconnected."))
