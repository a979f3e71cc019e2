"""`optout demo` never leaves loopback: its DNS goes to a stub, not the system's resolver.

The proxy runs with the system resolver (what dnspython reads from /etc/resolv.conf)
pointed at a local server that records every query. The demo, asked by a fake
Googlebot, must send it nothing; `optout run` with the same request does query it,
which shows the recorder would have seen the demo's queries.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import dns.message
import pytest
from aiohttp import web
from harness import ROOT

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
# Points dnspython's idea of the system resolver at the recorder, then runs `optout`.
BOOT = """
import sys, dns.resolver
def local(self, *args, **kwargs):
    self.nameservers = ["127.0.0.1"]
    self.port = int(sys.argv[1])
dns.resolver.BaseResolver.read_resolv_conf = local
from proxy.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


class Recorder(asyncio.DatagramProtocol):
    """A name server that answers nothing (NXDOMAIN) and remembers every question."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.queries: list[str] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.DatagramTransport)
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        self.queries.append(query.question[0].name.to_text())
        response = dns.message.make_response(query)
        response.set_rcode(dns.rcode.NXDOMAIN)
        assert self.transport is not None
        self.transport.sendto(response.to_wire(), addr)


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[Recorder, int]]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(Recorder, local_addr=("127.0.0.1", 0))
    yield protocol, transport.get_extra_info("sockname")[1]
    transport.close()


async def _fetch_as_googlebot(
    dns_port: int, tmp: Path, *command: str
) -> tuple[str, dict[str, object]]:
    """Start `optout COMMAND`, GET / as a fake Googlebot; its banner and the record."""
    log = tmp / "access.jsonl"
    env = {**os.environ, "HOME": str(tmp), "OPTOUT_ADMIN": "off"}
    env.pop("OPTOUT_VERIFY_DNS", None)
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-c", BOOT, str(dns_port), *command),
        *("--listen", "127.0.0.1:0", "--log", str(log), "--state", str(tmp / "state")),
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    assert process.stderr is not None
    try:
        first = (await asyncio.wait_for(process.stderr.readline(), 30)).decode()
        match = re.search(r"(?:ready on|is behind) (http://[\d.]+:\d+)", first)
        assert match, first + (await process.stderr.read()).decode()
        banner = first
        if command[0] == "demo":
            while "Ctrl-C" not in banner:
                banner += (await asyncio.wait_for(process.stderr.readline(), 5)).decode()
        async with aiohttp.ClientSession() as session:
            async with session.get(match.group(1) + "/", headers={"User-Agent": GOOGLEBOT}) as r:
                await r.read()
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 20)
    return banner, json.loads(log.read_text().splitlines()[-1])


async def test_the_demo_sends_no_dns_query(recorder: tuple[Recorder, int], tmp_path: Path) -> None:
    server, port = recorder
    banner, record = await _fetch_as_googlebot(port, tmp_path, "demo")
    assert server.queries == []
    assert "nothing leaves loopback" in banner
    # Checked against the stub's answers: loopback is localhost, not googlebot.com.
    optout = record["optout"]
    assert isinstance(optout, dict)
    assert optout["identity"] == "spoofed"
    assert "ptr localhost not under googlebot.com" in optout["verification_failure"]


async def test_run_does_query_the_system_resolver(
    recorder: tuple[Recorder, int], tmp_path: Path
) -> None:
    site = web.AppRunner(web.Application())
    await site.setup()
    await web.TCPSite(site, "127.0.0.1", 0).start()
    upstream = f"http://127.0.0.1:{site.addresses[0][1]}"
    try:
        await _fetch_as_googlebot(recorder[1], tmp_path, "run", "--upstream", upstream)
    finally:
        await site.cleanup()
    assert "1.0.0.127.in-addr.arpa." in recorder[0].queries
