"""`optout demo` serves its cover and preview stamped as its policy says, through the proxy."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
from paths import ROOT
from readers import ENTRIES, RESERVED_DMI, c2pa_read, decoded_audio, exiftool, pixels

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"
ORIGINALS = ROOT / "proxy/demo/static/media"


async def test_demo_media_carry_the_reservation(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path), "OPTOUT_ADMIN": "off"}
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "proxy", "demo", "--listen", "127.0.0.1:0"),
        *("--log", str(tmp_path / "access.jsonl"), "--state", str(tmp_path / "state")),
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    assert process.stderr is not None
    try:
        base = None
        async with asyncio.timeout(90):
            while base is None:
                line = (await process.stderr.readline()).decode()
                assert line, "the demo exited before it was ready"
                if found := re.search(r"is behind (http://\S+)", line):
                    base = found.group(1)
        async with aiohttp.ClientSession(headers={"User-Agent": BROWSER}) as session:
            for name in ("aurora-preview.mp3", "aurora-cover.png"):
                async with session.get(f"{base}/media/{name}") as resp:
                    assert resp.status == 200
                    assert resp.headers["tdm-reservation"] == "1"
                    (tmp_path / name).write_bytes(await resp.read())
    finally:
        process.send_signal(signal.SIGTERM)
        await process.wait()
    for name in ("aurora-preview.mp3", "aurora-cover.png"):
        state, active, failures = c2pa_read(tmp_path / name)
        assert state == "Valid"
        assert [f["code"] for f in failures] == ["signingCredential.untrusted"]
        entries = next(a for a in active["assertions"] if a["label"] == "cawg.training-mining")
        assert {k: v["use"] for k, v in entries["data"]["entries"].items()} == dict.fromkeys(
            ENTRIES, "notAllowed"
        )
    assert exiftool(tmp_path / "aurora-cover.png")["XMP-plus:DataMining"] == RESERVED_DMI
    # The packaged originals stay unstamped; what is served decodes to the same samples and pixels.
    assert (ORIGINALS / "aurora-cover.png").read_bytes() != (
        tmp_path / "aurora-cover.png"
    ).read_bytes()
    assert pixels(tmp_path / "aurora-cover.png") == pixels(ORIGINALS / "aurora-cover.png")
    assert decoded_audio(tmp_path / "aurora-preview.mp3") == decoded_audio(
        ORIGINALS / "aurora-preview.mp3"
    )
