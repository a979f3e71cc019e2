"""Graceful shutdown: listeners close first, flows in flight finish, bounded by the timeout."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from mitmproxy.test import tflow, tutils

from proxy.engine.drain import Drain


class FakeServers:
    def __init__(self) -> None:
        self.modes: list[Any] | None = None

    async def update(self, modes: list[Any]) -> bool:
        self.modes = list(modes)
        return True


class FakeProxyserver:
    def __init__(self) -> None:
        self.servers = FakeServers()
        self.connections: dict[str, Any] = {}


async def test_drain_waits_for_the_flow_in_flight() -> None:
    drain, server, stopped = Drain(5.0), FakeProxyserver(), []
    flow = tflow.tflow()
    drain.requestheaders(flow)
    task = asyncio.create_task(drain.drain(server, lambda: stopped.append(True)))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    assert server.servers.modes == []  # the listeners closed at once
    assert not stopped
    flow.response = tutils.tresp()
    drain.responseheaders(flow)
    assert flow.response.headers["connection"] == "close"
    drain.response(flow)
    await asyncio.wait_for(task, 1)
    assert stopped == [True]


async def test_drain_gives_up_after_the_timeout() -> None:
    drain, server, stopped = Drain(0.1), FakeProxyserver(), []
    drain.requestheaders(tflow.tflow())
    start = time.monotonic()
    await drain.drain(server, lambda: stopped.append(True))  # type: ignore[arg-type]
    assert stopped == [True]
    assert time.monotonic() - start < 1


async def test_errors_end_flows_and_nothing_changes_before_draining() -> None:
    drain = Drain(1.0)
    flow = tflow.tflow(resp=True)
    drain.requestheaders(flow)
    drain.responseheaders(flow)
    assert "connection" not in flow.response.headers  # type: ignore[union-attr]
    drain.error(flow)
    assert drain.flows == set()
    stopped: list[bool] = []
    await drain.drain(FakeProxyserver(), lambda: stopped.append(True))  # type: ignore[arg-type]
    assert stopped == [True]
