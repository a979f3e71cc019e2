"""The provider ranges refresher against a local aiohttp server, and its saved copies."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web

from proxy.errors import Problem
from proxy.identity import networks
from proxy.identity.networks import NetworkSnapshot, build_networks, load_networks
from proxy.net.netrefresh import NetworkRefresher

NOW = datetime(2026, 12, 3, 5, 6, 7, tzinfo=UTC)
AWS = {"prefixes": [{"ip_prefix": "3.5.140.0/22", "region": "ap-northeast-2", "service": "S3"}]}
SOURCE = "https://ip-ranges.amazonaws.com/ip-ranges.json"
SHIPPED = f"# name: aws\n# provider: aws\n# source: {SOURCE}\n# snapshot: 2026-08-22\n"
SHIPPED += "# format: aws-json\n52.95.245.0/24 EC2 us-east-1\n"
ROUTES = {
    "/aws.json": lambda: web.json_response(AWS),
    "/broken.json": lambda: web.Response(text='{"prefixes": [{"ip_prefix": "3.5.140.0/33"}]}'),
    "/missing.json": lambda: web.Response(status=404),
}


@pytest.fixture
async def base() -> AsyncIterator[str]:
    app = web.Application()

    async def handle(request: web.Request) -> web.Response:
        return ROUTES[request.path]()

    app.router.add_get("/{name}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest.fixture
def rules(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "aws.txt").write_text(SHIPPED)
    yield tmp_path / "rules"
    networks.use_saved_copies(None)


def _refresher(state: Path, url: str, reloads: list[int]) -> NetworkRefresher:
    shipped = NetworkSnapshot("aws", "aws", SOURCE, "2026-08-22", "aws-json")
    unrefreshable = NetworkSnapshot("hetzner", "hetzner", "https://x.example/", "2026-06-25")

    async def reload() -> None:
        reloads.append(1)

    refresher = NetworkRefresher(
        build_networks([shipped, unrefreshable]), state, reload, allow_http=True, now=lambda: NOW
    )
    assert refresher._sources == {"aws": SOURCE}  # only snapshots with a format
    refresher._sources = {"aws": url}  # the test server stands in for AWS
    return refresher


async def test_a_fetched_copy_is_saved_and_then_preferred(
    base: str, tmp_path: Path, rules: Path
) -> None:
    reloads: list[int] = []
    assert await _refresher(tmp_path, f"{base}/aws.json", reloads).refresh_all() == 1
    assert reloads == [1]
    saved = (tmp_path / "networks" / "aws.txt").read_text()
    assert "# snapshot: fetched 2026-12-03T05:06:07Z\n" in saved
    assert saved.endswith("3.5.140.0/22 S3 ap-northeast-2\n")
    assert load_networks(rules, []).lookup("3.5.140.9").provider == "residential/unknown"
    networks.use_saved_copies(tmp_path / "networks")
    refreshed = load_networks(rules, [])
    assert refreshed.lookup("3.5.140.9").region == "ap-northeast-2"
    assert refreshed.lookup("52.95.245.1").provider == "residential/unknown"


@pytest.mark.parametrize("route", ["broken.json", "missing.json"])
async def test_a_bad_fetch_keeps_the_last_good_copy(
    base: str, tmp_path: Path, rules: Path, route: str, caplog: pytest.LogCaptureFixture
) -> None:
    reloads: list[int] = []
    assert await _refresher(tmp_path, f"{base}/aws.json", reloads).refresh_all() == 1
    good = (tmp_path / "networks" / "aws.txt").read_text()
    assert await _refresher(tmp_path, f"{base}/{route}", reloads).refresh_all() == 0
    assert reloads == [1]
    assert (tmp_path / "networks" / "aws.txt").read_text() == good
    assert "keeping the last good copy" in caplog.text


@pytest.mark.parametrize(
    ("saved", "used"),
    [
        (SHIPPED.replace("2026-08-22", "fetched 2026-12-01").replace("52.95", "53.95"), "saved"),
        (SHIPPED.replace("2026-08-22", "fetched 2026-01-01").replace("52.95", "53.95"), "shipped"),
        (SHIPPED.replace(SOURCE, "https://moved.example/").replace("52.95", "53.95"), "shipped"),
        (SHIPPED.replace("52.95.245.0/24", "53.95.245.1/24"), "shipped"),  # a broken copy
    ],
    ids=["newer", "older", "other-source", "broken"],
)
def test_which_copy_is_compiled(tmp_path: Path, rules: Path, saved: str, used: str) -> None:
    (tmp_path / "networks").mkdir()
    (tmp_path / "networks" / "aws.txt").write_text(saved)
    networks.use_saved_copies(tmp_path / "networks")
    problems: list[Problem] = []
    compiled = load_networks(rules, problems)
    assert problems == []
    expected = {"saved": ("53.95.245.1", "52.95.245.1"), "shipped": ("52.95.245.1", "53.95.245.1")}
    inside, outside = expected[used]
    assert compiled.lookup(inside).provider == "aws"
    assert compiled.lookup(outside).provider == "residential/unknown"
    assert compiled.providers == frozenset({"aws"})
