"""End to end with a real local TSA: checkpoints over several intervals, a bundle for a
crawler verified offline in an empty directory, every kind of tampering named, a
re-zipped copy still verifying; a slow TSA changes nothing for clients."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from harness import ROOT, Proxy, Upstream, start_proxy
from localtsa import Authority, LocalTSA, make_authority, openssl_verify

from proxy.evidence import checkpoints
from proxy.evidence.chain import Head

GPTBOT = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; GPTBot/1.2"


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return make_authority(tmp_path_factory.mktemp("tsa"))


@pytest.fixture
def tsa(authority: Authority) -> Iterator[LocalTSA]:
    server = LocalTSA(authority).start()
    yield server
    server.stop()


def optout(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "proxy", *args], capture_output=True, text=True, cwd=cwd, env=env,
        check=False, timeout=60,
    )  # fmt: skip


async def _get(url: str, path: str, agent: str = GPTBOT) -> tuple[int, bytes, float]:
    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        async with session.get(url + path, headers={"User-Agent": agent}) as response:
            body = await response.read()
    return response.status, body, time.perf_counter() - started


def _rewrite(bundle: Path, name: str, flip_at: int | None = None) -> Path:
    """A copy of `bundle` with one byte of `name` flipped."""
    out = bundle.with_name(f"flipped-{name.replace('/', '_')}.zip")
    with zipfile.ZipFile(bundle) as z, zipfile.ZipFile(out, "w") as w:
        for info in z.infolist():
            data = bytearray(z.read(info))
            if info.filename == name:
                at = len(data) // 2 if flip_at is None else flip_at
                data[at] ^= 0x01
            w.writestr(info.filename, bytes(data))
    return out


async def test_bundle_verifies_offline_and_names_every_altered_byte(
    upstream: Upstream, tmp_path: Path, tsa: LocalTSA, authority: Authority
) -> None:
    state = tmp_path / "state"
    assert optout("logs", "keygen", "--state", str(state)).returncode == 0
    env = {"OPTOUT_TSA": tsa.url, "OPTOUT_CHECKPOINT_INTERVAL": "0.4"}
    proxy = await start_proxy(upstream.url, tmp_path, env=env)
    try:
        status, key, _ = await _get(proxy.url, "/.well-known/optout-checkpoint-key.pem")
        assert status == 200
        assert key == (state / "checkpoint-signing.pub.pem").read_bytes()
        await _get(proxy.url, "/robots.txt")
        for n in range(6):  # over several checkpoint intervals
            await _get(proxy.url, f"/page?n={n}")
            await asyncio.sleep(0.3)
        records = await proxy.stop()
    finally:
        await _kill(proxy)
    points = [r for r in records if r["event"]["action"] == "checkpoint"]
    assert len(points) >= 3
    assert all(p["optout"]["checkpoint"]["timestamps"] for p in points)
    assert all("signature" in p["optout"]["checkpoint"] for p in points)

    chain_pem = tmp_path / "tsa-chain.pem"
    chain_pem.write_bytes(authority.chain_pem())
    bundle = tmp_path / "bundle.zip"
    made = optout("evidence", str(proxy.log), "--agent", "GPTBot", "--out", str(bundle),
                  "--state", str(state), "--tsa-certs", str(chain_pem))  # fmt: skip
    assert made.returncode == 0, made.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(bundle, elsewhere / "bundle.zip")
    checked = optout("evidence", "verify", "bundle.zip", cwd=elsewhere)
    assert checked.returncode == 0, checked.stdout
    assert "OK: the bundle is consistent" in checked.stdout
    assert "timestamped by TSA" in checked.stdout
    assert "agent GPTBot from address 127.0.0.1 made 8 request(s)." in checked.stdout
    assert "Each response carried the reservation tdm-reservation: 1;" in checked.stdout
    assert "disallowed the path /page." in checked.stdout  # nothing always free

    # OpenSSL agrees with our check of a token the bundle holds.
    with zipfile.ZipFile(bundle) as z:
        manifest = json.loads(z.read("manifest.json"))
        segment = [json.loads(line) for line in z.read("chain-segment.jsonl").splitlines()]
        token_name = "timestamps/" + manifest["timestamps"][0]
        token = z.read(token_name)
    point = next(
        r["optout"]["checkpoint"]
        for r in segment
        if hashlib.sha256(token).hexdigest()
        in [
            s["token_sha256"]
            for s in r.get("optout", {}).get("checkpoint", {}).get("timestamps", [])
        ]
    )
    sealed = [r for r in segment if r["event"].get("action") == "checkpoint"]
    assert len(sealed) >= 2  # one during, one after the requests
    n = len(sealed)
    assert f"{n} checkpoint signature(s) and {n} RFC 3161 timestamp(s) verified" in checked.stdout
    head = Head(point["sequence"], point["digest"], point["alg"])
    assert "Verification: OK" in openssl_verify(authority, token, checkpoints.imprint(head))

    served = next(n for n in manifest["files"] if n.startswith("served/"))
    for name, named in (
        ("records.jsonl", "records.jsonl"),
        (token_name, token_name),
        (served, served),
        ("checkpoint-key.pem", "checkpoint-key.pem"),
    ):
        flipped = _rewrite(bundle, name)
        result = optout("evidence", "verify", str(flipped))
        assert result.returncode == 1, (name, result.stdout)
        assert f"FAILED: {named} was altered" in result.stdout, result.stdout

    # Unzipped and re-zipped with an ordinary zip -r: still verifies.
    unpacked = tmp_path / "unpacked" / "bundle"
    unpacked.mkdir(parents=True)
    with zipfile.ZipFile(bundle) as z:
        z.extractall(unpacked)
    _zip_r(unpacked.parent, "again.zip", "bundle")  # keeps the bundle/ folder in every name
    rezipped = optout("evidence", "verify", str(tmp_path / "unpacked" / "again.zip"))
    assert rezipped.returncode == 0, rezipped.stdout
    assert optout("evidence", "verify", str(unpacked)).returncode == 0

    # The notice a lawyer sends, with this bundle's figures, rendered by Chromium.
    page = tmp_path / "notice.html"
    wrote = optout("evidence", "notice", str(bundle), "--out", str(page), "--pdf",
                   str(tmp_path / "notice.pdf"), "--rules", str(ROOT / "rules"))  # fmt: skip
    assert wrote.returncode == 0, wrote.stderr
    text = page.read_text()
    assert "agent GPTBot from address 127.0.0.1 made 8 request(s)." in text
    assert "timestamped by TSA Test TSA (optout tests)" in text
    assert "(8 records, " in text  # the crawler's records only, not the checkpoints
    assert "<tr><th>Requests</th><td>8: " in text
    _screenshot(page, tmp_path / "notice.png")


async def _kill(proxy: Proxy) -> None:
    if proxy.process.returncode is None:
        proxy.process.kill()
        await proxy.process.wait()


def _screenshot(page: Path, png: Path) -> None:
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--window-size=900,2000", f"--screenshot={png}", page.as_uri()],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    assert png.read_bytes().startswith(b"\x89PNG")


def _zip_r(cwd: Path, out: str, folder: str) -> None:
    subprocess.run(["zip", "-qr", out, folder], cwd=cwd, check=True)


async def _latencies(url: str, count: int = 25) -> list[float]:
    found = []
    for n in range(count):
        status, _, seconds = await _get(url, f"/page?n={n}", agent="Mozilla/5.0 Firefox/140.0")
        assert status == 200
        found.append(seconds)
        await asyncio.sleep(0.05)
    return found


async def test_a_slow_tsa_changes_nothing_for_clients_and_leaves_a_gap(
    upstream: Upstream, tmp_path: Path, tsa: LocalTSA
) -> None:
    base = await start_proxy(upstream.url, tmp_path / "base")
    try:
        plain = await _latencies(base.url)
        await base.stop()
    finally:
        await _kill(base)
    tsa.mode = "slow"
    env = {"OPTOUT_TSA": tsa.url, "OPTOUT_CHECKPOINT_INTERVAL": "0.3", "OPTOUT_TSA_TIMEOUT": "0.5"}
    proxy = await start_proxy(upstream.url, tmp_path / "slow", env=env)
    try:
        slow = await _latencies(proxy.url)
        records = await proxy.stop()
    finally:
        await _kill(proxy)
    p50, p50_slow = statistics.median(plain), statistics.median(slow)
    print(f"median latency: no TSA {p50 * 1000:.1f} ms, a hung TSA {p50_slow * 1000:.1f} ms")
    # A TSA that blocked the event loop would add its 0.5 s timeout to requests.
    assert p50_slow < p50 + 0.1
    assert max(slow) < 0.5
    gaps = [r for r in records if r["event"]["action"] == "checkpoint"]
    assert gaps
    assert all(g["optout"]["checkpoint"]["gap"] for g in gaps)
    verified = optout("logs", "verify", str(proxy.log), "--state", str(tmp_path / "slow" / "state"))
    assert verified.returncode == 0, verified.stdout
    assert "timestamp gap: the checkpoint of record" in verified.stdout
    assert "CHAIN BROKEN" not in verified.stdout
