"""What an operator reads in the log, through the real proxy (issue 22).

The reservation documents say what acting on them did (`optout.outcome`), a HEAD
answer logs no body, and the reference a blocked person quotes finds their record
with `optout logs search --ref`, even when many blocked requests are logged in
another order than they were decided.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
from harness import ROOT, Proxy, Upstream

from proxy.review.search import Filters, search

GPTBOT = "Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)"


async def test_documents_have_an_outcome_and_head_logs_no_body(
    proxy: Proxy, upstream: Upstream
) -> None:
    async with aiohttp.ClientSession(headers={"User-Agent": GPTBOT}) as session:
        for path in ("/.well-known/tdmrep.json", "/ai.txt", "/robots.txt"):
            async with session.get(proxy.url + path) as response:
                assert response.status == 200
                await response.read()
        async with session.head(proxy.url + "/music/") as response:
            assert response.status == 403
        async with session.get(proxy.url + "/music/") as response:
            assert response.status == 403
            page = await response.read()
        async with session.head(proxy.url + "/ai.txt") as response:
            assert response.status == 200
    records = await proxy.stop()
    by = {(r["http"]["request"]["method"], r["url"]["path"]): r for r in records}
    for path in ("/.well-known/tdmrep.json", "/ai.txt", "/robots.txt"):
        assert by["GET", path]["optout"]["outcome"] == "allowed", path
        assert by["GET", path]["optout"]["rule"] == "always-free"
    assert by["HEAD", "/music/"]["optout"]["outcome"] == "blocked"
    assert by["HEAD", "/music/"]["http"]["response"]["body"]["bytes"] == 0
    assert by["HEAD", "/ai.txt"]["http"]["response"]["body"]["bytes"] == 0
    assert by["GET", "/music/"]["http"]["response"]["body"]["bytes"] == len(page) > 0


def _head(proxy: Proxy, target: str) -> bytes:
    """Everything the proxy sends for one HEAD on a connection kept open for more."""
    address = urlsplit(proxy.url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(f"HEAD {target} HTTP/1.1\r\nHost: label.example\r\n\r\n".encode())
        sock.settimeout(2)  # a body, if one were sent, arrives with the head
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except TimeoutError:
            pass
    return data


async def test_the_proxys_own_answers_to_head_have_no_body(proxy: Proxy) -> None:
    # A 400 from the edge checks and a 421 for another host: headers only.
    for target, status in (("/a%2Fb", b"400"), ("http://elsewhere.example/", b"421")):
        head, _, rest = (await asyncio.to_thread(_head, proxy, target)).partition(b"\r\n\r\n")
        assert head.split(b" ")[1] == status, head
        assert b"content-length: " in head.lower()
        assert rest == b"", (target, rest)
    records = await proxy.stop()
    assert [r["http"]["response"]["body"]["bytes"] for r in records] == [0, 0]


def _search(proxy: Proxy, ref: str) -> list[dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-m", "proxy", "logs", "search", "--log", str(proxy.log), "--ref", ref,
         "--json"],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=True,
    )  # fmt: skip
    return [json.loads(line) for line in done.stdout.splitlines()]


async def test_the_reference_on_a_block_page_finds_its_record(proxy: Proxy) -> None:
    # Twenty blocked requests at once, for different paths: the log writer numbers
    # them in whatever order they reach it; each page's reference must still find
    # its own request, for a browser's page and a crawler's text alike.
    async def blocked(n: int) -> tuple[str, str]:
        accept = "text/html" if n % 2 else "*/*"
        headers = {"User-Agent": GPTBOT, "Accept": accept}
        async with aiohttp.ClientSession(headers=headers) as session:
            async with session.get(f"{proxy.url}/releases/{n}") as response:
                assert response.status == 403
                text = await response.text()
        found = re.search(r"reference: <code>([0-9a-f]{16})</code>|Reference: ([0-9a-f]{16})", text)
        assert found, text
        return f"/releases/{n}", found.group(1) or found.group(2)

    pages = await asyncio.gather(*(blocked(n) for n in range(20)))
    records = await proxy.stop()
    assert len({ref for _, ref in pages}) == 20
    assert len(records) == 20
    sequences = set()
    for path, ref in pages:  # what `logs search --ref` runs, in this process for speed
        (row,) = search([proxy.log], Filters(ref=ref), raw=True)
        record = json.loads(row[-1])
        assert record["url"]["path"] == path
        assert record["http"]["request"]["id"] == ref
        sequences.add(record["event"]["sequence"])
    assert len(sequences) == 20
    # The command itself, with a reference and with the sequence number a person may quote.
    path, ref = pages[7]
    (record,) = _search(proxy, ref.upper())  # read out loud, typed in capitals
    assert record["url"]["path"] == path  # type: ignore[index]
    assert _search(proxy, str(record["event"]["sequence"])) == [record]  # type: ignore[index]
    assert _search(proxy, "0123456789abcdef") == []


def test_a_mistyped_reference_is_refused_not_found_empty(tmp_path: Path) -> None:
    log = tmp_path / "access.jsonl"
    log.write_text("")
    done = subprocess.run(
        [sys.executable, "-m", "proxy", "logs", "search", "--log", str(log),
         "--ref", "355bf7c37e8"],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--ref '355bf7c37e8': a block page's reference is 16 hex digits" in done.stderr
