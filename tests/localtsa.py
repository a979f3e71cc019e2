"""A real RFC 3161 time-stamping authority on loopback: `openssl ts -reply` behind aiohttp.

`make_authority(dir)` makes a test CA and a TSA certificate it signs (critical
timeStamping extended key usage) with the openssl command line, and the
`openssl ts` configuration. `LocalTSA` serves it in a thread with its own event
loop; `mode` makes it answer, fail ("down": 503) or hang ("slow") per request.
"""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

_CONFIG = """\
[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
certs = $dir/tsa.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.99999.1
other_policies = 1.3.6.1.4.1.99999.2
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""
_EXT = """\
[ tsa_ext ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, nonRepudiation
extendedKeyUsage = critical, timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


@dataclass(frozen=True)
class Authority:
    dir: Path
    config: Path
    ca: Path  # the root, PEM
    tsa: Path  # the TSA certificate, PEM

    def chain_pem(self) -> bytes:
        return self.tsa.read_bytes() + self.ca.read_bytes()


def _run(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_authority(directory: Path) -> Authority:
    d = directory
    d.mkdir(parents=True, exist_ok=True)
    _run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
         "-days", "30", "-subj", "/CN=Test Root CA/O=optout tests", cwd=d)  # fmt: skip
    _run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "tsa.key", "-out", "tsa.csr",
         "-subj", "/CN=Test TSA/O=optout tests", cwd=d)  # fmt: skip
    (d / "ext.cnf").write_text(_EXT)
    _run("x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "tsa.pem", "-days", "30", "-extfile", "ext.cnf",
         "-extensions", "tsa_ext", cwd=d)  # fmt: skip
    (d / "serial").write_text("01\n")
    config = d / "tsa.cnf"
    config.write_text(_CONFIG.format(dir=d))
    return Authority(d, config, d / "ca.pem", d / "tsa.pem")


def reply(authority: Authority, query: bytes) -> bytes:
    """`openssl ts -reply` for one query (serialised: openssl keeps a serial file)."""
    with tempfile.TemporaryDirectory() as tmp:
        q, r = Path(tmp) / "q.tsq", Path(tmp) / "r.tsr"
        q.write_bytes(query)
        with _LOCK:
            _run("ts", "-reply", "-config", str(authority.config), "-queryfile", str(q),
                 "-out", str(r), cwd=authority.dir)  # fmt: skip
        return r.read_bytes()


_LOCK = threading.Lock()


def openssl_verify(authority: Authority, token_der: bytes, imprint: bytes) -> str:
    """`openssl ts -verify` of a token for `imprint`; its output (raises if it fails)."""
    with tempfile.TemporaryDirectory() as tmp:
        token = Path(tmp) / "t.der"
        token.write_bytes(token_der)
        done = subprocess.run(
            ["openssl", "ts", "-verify", "-digest", imprint.hex(), "-in", str(token),
             "-token_in", "-CAfile", str(authority.ca), "-untrusted", str(authority.tsa)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    if done.returncode != 0:
        raise AssertionError(f"openssl ts -verify failed: {done.stdout}{done.stderr}")
    return done.stdout


class LocalTSA:
    """The authority on http://127.0.0.1:PORT/ in a thread; `mode`: ok, down or slow."""

    def __init__(self, authority: Authority) -> None:
        self.authority = authority
        self.mode = "ok"
        self.requests = 0
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.mode == "down":
            return web.Response(status=503, text="down for the test")
        if self.mode == "slow":
            await asyncio.sleep(30)
        body = await request.read()
        answer = await asyncio.to_thread(reply, self.authority, body)
        return web.Response(body=answer, content_type="application/timestamp-reply")

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/"
        self._started.set()
        self._loop.run_forever()
        pending = asyncio.all_tasks(self._loop)  # a "slow" answer still hanging
        for task in pending:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def start(self) -> LocalTSA:
        self._thread.start()
        self._started.wait(10)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
