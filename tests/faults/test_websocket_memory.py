"""WebSocket through the real proxy: messages flow both ways and are not kept in memory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from e2e.harness import Proxy, start_proxy
from faulty import MIB, kill, rss_bytes

COUNT = 200


@pytest.fixture
async def echo_url() -> AsyncIterator[str]:
    async def echo(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=2 * MIB)
        await ws.prepare(request)
        async for message in ws:
            if message.type == aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(message.data[::-1])
        return ws

    app = web.Application()
    app.router.add_get("/ws", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest.fixture
async def ws_proxy(echo_url: str, tmp_path: Path) -> AsyncIterator[Proxy]:
    running = await start_proxy(echo_url, tmp_path)
    yield running
    await kill(running)


async def test_websocket_messages_flow_and_are_not_kept(ws_proxy: Proxy) -> None:
    timeout = aiohttp.ClientWSTimeout(ws_receive=30)
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{ws_proxy.url}/ws", timeout=timeout, max_msg_size=2 * MIB) as ws,
    ):
        await ws.send_bytes(b"warm-up")
        assert await ws.receive_bytes() == b"pu-mraw"
        before = rss_bytes(ws_proxy.process.pid)
        for i in range(COUNT):
            payload = i.to_bytes(4, "big") + b"\xab" * (MIB - 4)
            await ws.send_bytes(payload)
            assert await ws.receive_bytes() == payload[::-1]
        growth = rss_bytes(ws_proxy.process.pid) - before
    assert growth < 100 * MIB, f"proxy grew by {growth // MIB} MiB over {COUNT} MiB echoed"
