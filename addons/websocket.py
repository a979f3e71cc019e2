"""WebSocket: keep no WebSocket message in memory once it has been relayed.

mitmproxy appends every message of a WebSocket connection to
`flow.websocket.messages` for as long as the connection lives (and beyond, as
long as the flow is referenced): echoing 200 messages of 1 MB grew the process
by 440 MB (engine-notes §4.4). The proxy neither shows nor replays messages, so
each one is dropped from the list as soon as its hook has run; the engine sends
the message from its own reference, so relaying is unaffected. No other addon
of the proxy has a `websocket_message` hook; one added later must be registered
before this one to see the message.
"""

from __future__ import annotations

from mitmproxy import http


class WebSocket:
    def websocket_message(self, flow: http.HTTPFlow) -> None:
        if flow.websocket is not None:
            flow.websocket.messages.clear()
