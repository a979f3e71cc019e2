"""What the patches of mitmproxy's HTTP stream share: whether a page follows, and a 413."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from mitmproxy import flow, http
from mitmproxy.net.http.http1 import expected_http_body_size
from mitmproxy.proxy.layers import http as http_layer
from mitmproxy.proxy.layers.http._events import (
    ErrorCode,
    RequestProtocolError,
    ResponseProtocolError,
)
from mitmproxy.proxy.layers.http._hooks import HttpErrorHook

from proxy.engine.patches.limits import BODY_TOO_LARGE
from proxy.engine.patches.state import PatchState

Commands = Generator[Any, Any, Any]
Stream = http_layer.HttpStream


def page_follows(stream: Any) -> bool:
    """Whether the engine will answer the client with an error page (no head sent yet)."""
    return bool(
        stream.client_state != stream.state_errored
        and stream.server_state != stream.state_stream_response_body
        and stream.server_state != stream.state_done
    )


def before(commands: Commands, extra: Callable[[Any], Commands]) -> Commands:
    """`commands`, each answered as the engine answers it, with `extra(command)` yielded first."""
    try:
        command = next(commands)
        while True:
            yield from extra(command)
            command = commands.send((yield command))
    except StopIteration as stop:
        return stop.value


def declared_size(request: http.Request) -> int | None:
    try:
        return expected_http_body_size(request)
    except ValueError:
        return None


def refuse_body(stream: Any, state: PatchState, upstream: bool) -> Commands:
    """413 to the client (if it has no answer yet), and abort the upstream request if sent."""
    stream.flow.error = flow.Error(BODY_TOO_LARGE)
    if page_follows(stream):
        state.answer(stream.flow, 413, "body-too-large")
    yield HttpErrorHook(stream.flow)
    if upstream:
        yield http_layer.SendHttp(
            RequestProtocolError(stream.stream_id, BODY_TOO_LARGE, ErrorCode.REQUEST_TOO_LARGE),
            stream.context.server,
        )
    yield http_layer.SendHttp(
        ResponseProtocolError(stream.stream_id, BODY_TOO_LARGE, ErrorCode.REQUEST_TOO_LARGE),
        stream.context.client,
    )
    stream.client_state = stream.server_state = stream.state_errored
    stream.flow.live = False
