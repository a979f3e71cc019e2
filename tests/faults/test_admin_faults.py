"""Finding 13 of the edge review: the admin port and the state dir, tried as an attacker would."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from e2e.harness import start_proxy
from faulty import TIMEOUT_ENV, Faulty, kill, raw_exchange

TOKEN = "t" * 32


async def test_non_utf8_authorization_on_the_admin_port_is_a_401(
    upstream: Faulty, tmp_path: Path
) -> None:
    proxy = await start_proxy(
        upstream.url, tmp_path, env={**TIMEOUT_ENV, "OPTOUT_ADMIN_TOKEN": TOKEN}
    )
    try:
        assert proxy.admin is not None
        for credential in (b"\xff\xfe\xfd", b"\xc3(", TOKEN.encode() + b"\x80"):
            head = (
                b"POST /reload HTTP/1.1\r\nHost: admin\r\nAuthorization: Bearer "
                + credential
                + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            answer = await raw_exchange(proxy.admin, head)
            assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]
            assert b"Traceback" not in answer
        head = (
            b"POST /reload HTTP/1.1\r\nHost: admin\r\nAuthorization: Bearer "
            + TOKEN.encode()
            + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        assert (await raw_exchange(proxy.admin, head)).startswith(b"HTTP/1.1 200 ")
    finally:
        await kill(proxy)


async def test_no_ca_private_key_is_created_without_tls_interception(
    upstream: Faulty, tmp_path: Path
) -> None:
    proxy = await start_proxy(upstream.url, tmp_path, env=TIMEOUT_ENV)
    try:
        # TLS bytes on the plain port are refused without minting a certificate,
        # and the engine's revocation-list path is not served either.
        hello = bytes.fromhex("16030100") + b"\x00" * 64
        await raw_exchange(proxy.url, hello, seconds=10)
        answer = await raw_exchange(
            proxy.url, b"GET /mitmproxy-1.crl HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        assert b"pkix-crl" not in answer
    finally:
        await kill(proxy)
    state = tmp_path / "state"
    keys = [p for p in state.rglob("*") if p.is_file() and b"PRIVATE KEY" in p.read_bytes()]
    # The pseudonym key is raw bytes, not PEM; no other key belongs in the state dir.
    assert keys == [], keys


async def test_log_search_prints_a_hostile_path_as_text(upstream: Faulty, tmp_path: Path) -> None:
    proxy = await start_proxy(upstream.url, tmp_path, env=TIMEOUT_ENV)
    hostile = ("/fine/\u202eevil\u009b2J".encode(), b"/fine?q=\x1b[2J\x1b]0;x\x07")
    try:
        for target in hostile:  # raw bytes in the target, as a client can send them
            head = b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            await raw_exchange(proxy.url, head)
        records = await proxy.stop()
    finally:
        await kill(proxy)
    assert records
    search = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "proxy", "logs", "search", str(proxy.log)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await search.communicate()
    assert search.returncode == 0, err
    text = out.decode()
    assert f"{len(records)} record(s)" in text
    for control in ("\u202e", "\u009b", "\x1b", "\x07"):
        assert control not in text


async def test_with_a_metrics_token_metrics_need_it_and_probes_stay_open(
    upstream: Faulty, tmp_path: Path
) -> None:
    """The image binds the admin port on all interfaces; the token keeps /metrics private."""
    secret = tmp_path / "metrics-token"
    secret.write_text(TOKEN + "\n")
    env = {**TIMEOUT_ENV, "OPTOUT_METRICS_TOKEN_FILE": str(secret)}
    proxy = await start_proxy(upstream.url, tmp_path, env=env)
    try:
        assert proxy.admin is not None

        async def get(path: str, credential: bytes | None) -> bytes:
            auth = b"Authorization: Bearer " + credential + b"\r\n" if credential else b""
            head = b"GET " + path.encode() + b" HTTP/1.1\r\nHost: a\r\n" + auth
            return await raw_exchange(proxy.admin or "", head + b"Connection: close\r\n\r\n")

        assert (await get("/metrics", None)).startswith(b"HTTP/1.1 401 ")
        assert (await get("/metrics", b"wrong")).startswith(b"HTTP/1.1 401 ")
        answer = await get("/metrics", TOKEN.encode())
        assert answer.startswith(b"HTTP/1.1 200 ")
        assert b"optout_requests_total" in answer
        for probe in ("/healthz", "/readyz"):
            assert b" 401 " not in (await get(probe, None)).split(b"\r\n")[0]
    finally:
        await kill(proxy)
