"""`media_manifests: on`: the proxy points to a media file's C2PA sidecar with a Link header.

A real origin (aiohttp serving the stamped web root, sidecars included) behind the
real proxy; the sidecar fetched through the proxy is checked by c2pa-python
against the file it came with.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import c2pa
import pytest
from aiohttp import web as aioweb
from e2e.harness import start_proxy
from makers import signed, stamp
from readers import ENTRIES, training_mining

from proxy.cli.main import main

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"


def switch_on(rules: Path) -> None:
    policy = rules / "policy.yaml"
    text = policy.read_text()
    policy.write_text(
        text.replace(
            "  x_robots_tag: [noai, noimageai]\n",
            "  x_robots_tag: [noai, noimageai]\n  media_manifests: on\n",
        )
    )


@pytest.fixture
async def origin(web: Path) -> AsyncIterator[str]:
    app = web_app(web)
    runner = aioweb.AppRunner(app)
    await runner.setup()
    site = aioweb.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


def web_app(root: Path) -> aioweb.Application:
    app = aioweb.Application()
    app.router.add_static("/", root)
    return app


async def test_the_link_points_to_a_sidecar_that_verifies(
    web: Path, rules: Path, signing: tuple[Path, Path], origin: str, tmp_path: Path
) -> None:
    (web / "media/preview.flac").rename(web / "media/lossless.flac")
    (web / "media/preview.wav").unlink()
    index = rules / "media-manifests.txt"
    assert stamp(web, rules, *signed(signing), "--sidecars", "--index", str(index)) == 0
    # cover.jpg and cover.png would share cover.c2pa: neither gets one.
    assert index.read_text().splitlines() == [
        "/media/lossless.flac",
        "/media/preview.mp3",
        "/press/photo.jpg",
    ]
    assert not (web / "media/cover.c2pa").exists()
    switch_on(rules)
    proxy = await start_proxy(origin, tmp_path, rules=rules)
    try:
        async with aiohttp.ClientSession(headers={"User-Agent": BROWSER}) as session:
            async with session.get(f"{proxy.url}/media/preview.mp3") as resp:
                assert resp.status == 200
                links = resp.headers.getall("link")
                mp3 = await resp.read()
            assert '</media/preview.c2pa>; rel="c2pa-manifest"' in links
            assert any('rel="license"' in link for link in links)  # the licence link stays
            async with session.get(f"{proxy.url}/media/preview.c2pa") as resp:
                assert resp.status == 200
                sidecar = await resp.read()
            for path in ("/media/cover.png", "/media/missing.mp3"):
                async with session.get(f"{proxy.url}{path}") as resp:
                    assert not any("c2pa-manifest" in v for v in resp.headers.getall("link", []))
    finally:
        records = await proxy.stop()
    with c2pa.Reader("audio/mpeg", io.BytesIO(mp3), sidecar) as reader:
        assert reader.get_validation_state() == "Valid"
        assert training_mining(reader.get_active_manifest()) == dict.fromkeys(ENTRIES, "notAllowed")
    served = {r["url"]["path"]: r["optout"]["signals"] for r in records}
    assert "link-c2pa-manifest" in served["/media/preview.mp3"]
    assert "link-c2pa-manifest" not in served["/media/cover.png"]


def test_switching_it_on_without_an_index_is_refused(
    rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    switch_on(rules)
    assert main(["check", "--rules", str(rules)]) == 1
    assert (
        "media-manifests.txt: media_manifests is on but this index is missing"
        in capsys.readouterr().out
    )
    (rules / "media-manifests.txt").write_text("/media/a.mp3\nnot-a-path\n")
    assert main(["check", "--rules", str(rules)]) == 1
    assert "media-manifests.txt:2: 'not-a-path' is not a URL path" in capsys.readouterr().out


def test_a_bad_switch_value_is_located(rules: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = rules / "policy.yaml"
    policy.write_text(
        policy.read_text().replace(
            "  x_robots_tag: [noai, noimageai]\n",
            "  x_robots_tag: [noai, noimageai]\n  media_manifests: 1\n",
        )
    )
    assert main(["check", "--rules", str(rules)]) == 1
    out = capsys.readouterr().out
    assert "reservation.media_manifests" in out
    assert "must be on or off, not 1" in out
