"""The IP range refresher against a local aiohttp server: never the internet."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from proxy.identity.ipranges import IpRanges, Snapshot, parse_snapshot
from proxy.net.iprefresh import IpRangeRefresher, load_saved, snapshot_document

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
GOOD = {"creationTime": "x", "prefixes": [{"ipv4Prefix": "198.51.100.0/24"}]}
OLD = parse_snapshot(
    {"prefixes": [{"ipv4Prefix": "192.0.2.0/24"}]}, "x", source="", note="2025-01-01"
)


RELEASE = web.AppKey("release", asyncio.Event)


async def slow(request: web.Request) -> web.Response:
    """Answers only when the test is over: the client must give up first."""
    await request.app[RELEASE].wait()
    return web.json_response(GOOD)


async def endless(request: web.Request) -> web.StreamResponse:
    """No Content-Length: only the streaming size check can stop it."""
    response = web.StreamResponse()
    await response.prepare(request)
    for _ in range(100):
        await response.write(b" " * 1024)
    return response


ROUTES = {
    "/good.json": lambda r: web.json_response(GOOD),
    "/ipv6.json": lambda r: web.json_response({"prefixes": [{"ipv6Prefix": "2001:db8::/32"}]}),
    "/slow.json": slow,
    "/big.json": lambda r: web.Response(body=b" " * 5000 + json.dumps(GOOD).encode()),
    "/endless.json": endless,
    "/invalid.json": lambda r: web.Response(text="<html>not json</html>"),
    "/badprefix.json": lambda r: web.json_response({"prefixes": [{"ipv4Prefix": "1.2.3.4/33"}]}),
    "/empty.json": lambda r: web.json_response({"prefixes": []}),
    "/missing.json": lambda r: web.Response(status=404),
    "/redirect.json": lambda r: web.HTTPFound("/good.json"),
    "/loop.json": lambda r: web.HTTPFound("/loop.json"),
    "/to-https.json": lambda r: web.HTTPFound("https://127.0.0.1:1/good.json"),
    "/to-ftp.json": lambda r: web.HTTPFound("ftp://127.0.0.1/good.json"),
}


async def handle(request: web.Request) -> web.StreamResponse:
    response = ROUTES[request.path](request)
    if isinstance(response, web.HTTPException):
        raise response
    return await response if asyncio.iscoroutine(response) else response


@pytest.fixture
async def base() -> AsyncIterator[str]:
    app = web.Application()
    app[RELEASE] = asyncio.Event()
    app.router.add_get("/{name}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    app[RELEASE].set()
    await runner.cleanup()


class Updates(list[tuple[str, Snapshot]]):
    def __call__(self, name: str, snapshot: Snapshot) -> None:
        self.append((name, snapshot))


def refresher(
    tmp_path: Path, urls: dict[str, str], updates: Updates, **kwargs: object
) -> IpRangeRefresher:
    ranges = IpRanges({n: Snapshot(n, u, "2025-01-01", OLD.networks) for n, u in urls.items()})
    options: dict[str, object] = {"allow_http": True, "timeout": 0.5, "now": lambda: NOW}
    options.update(kwargs)
    return IpRangeRefresher(ranges, tmp_path, updates, max_bytes=4096, **options)


async def test_success_saves_and_calls_back(base: str, tmp_path: Path) -> None:
    updates = Updates()
    url = f"{base}/good.json"
    assert await refresher(tmp_path, {"x": url}, updates).refresh_all() == 1
    [(name, snapshot)] = updates
    assert (name, snapshot.source, snapshot.note) == ("x", url, "fetched 2026-03-04T05:06:07Z")
    assert [str(n) for n in snapshot.networks] == ["198.51.100.0/24"]
    saved = json.loads((tmp_path / "ipranges" / "x.json").read_text())
    assert saved == {**snapshot_document(snapshot), "fetched_at": "2026-03-04T05:06:07Z"}
    assert [p.name for p in (tmp_path / "ipranges").iterdir()] == ["x.json"]  # no temp left


async def test_redirects_are_followed(base: str, tmp_path: Path) -> None:
    updates = Updates()
    assert await refresher(tmp_path, {"x": f"{base}/redirect.json"}, updates).refresh_all() == 1
    assert updates[0][1].source == f"{base}/redirect.json"  # the documented source is kept


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/slow.json", "timeout"),
        ("/big.json", "over the 4096 byte limit"),
        ("/endless.json", "body is over the 4096 byte limit"),
        ("/invalid.json", "Expecting value"),
        ("/badprefix.json", r"prefixes\[0\]: ipv4Prefix '1.2.3.4/33' is not a valid network"),
        ("/empty.json", "'prefixes' must be a non-empty list"),
        ("/missing.json", "HTTP 404"),
        ("/loop.json", "more than 3 redirects"),
        ("/to-https.json", "Cannot connect|Connect call failed|SSL"),
        ("/to-ftp.json", "refusing 'ftp://127.0.0.1/good.json': only https URLs are fetched"),
    ],
)
async def test_a_failure_keeps_the_previous_data(
    base: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, path: str, reason: str
) -> None:
    updates = Updates()
    good = refresher(tmp_path, {"x": f"{base}/good.json"}, updates)
    await good.refresh_all()
    before = (tmp_path / "ipranges" / "x.json").read_text()
    bad = refresher(tmp_path, {"x": base + path}, updates, timeout=0.05)
    with caplog.at_level(logging.WARNING, logger="proxy.net.iprefresh"):
        assert await bad.refresh_all() == 0
    assert len(updates) == 1
    assert (tmp_path / "ipranges" / "x.json").read_text() == before
    [record] = caplog.records
    assert "IP ranges x: keeping the last good copy" in record.getMessage()
    assert re.search(reason, record.getMessage())


async def test_http_is_refused_unless_allowed(base: str, tmp_path: Path) -> None:
    updates = Updates()
    strict = refresher(tmp_path, {"x": f"{base}/good.json"}, updates, allow_http=False)
    assert await strict.refresh_all() == 0
    assert updates == []
    assert not (tmp_path / "ipranges").exists()


async def test_other_schemes_are_refused_before_any_request(tmp_path: Path) -> None:
    updates = Updates()
    job = refresher(tmp_path, {"x": "ftp://127.0.0.1:1/x.json"}, updates)
    assert await job.refresh_all() == 0
    assert updates == []


async def test_one_failure_does_not_stop_the_others(base: str, tmp_path: Path) -> None:
    updates = Updates()
    urls = {"a": f"{base}/invalid.json", "b": f"{base}/good.json", "c": f"{base}/ipv6.json"}
    assert await refresher(tmp_path, urls, updates).refresh_all() == 2
    assert [name for name, _ in updates] == ["b", "c"]


async def test_a_failing_callback_is_logged(
    base: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(name: str, snapshot: Snapshot) -> None:
        raise RuntimeError("boom")

    ranges = IpRanges({"x": Snapshot("x", f"{base}/good.json", "n", OLD.networks)})
    job = IpRangeRefresher(ranges, tmp_path, broken, allow_http=True)
    assert await job.refresh_all() == 0
    assert "on_update failed" in caplog.text


async def test_a_save_failure_still_updates(
    base: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "ipranges").write_text("a file where the directory should be")
    updates = Updates()
    assert await refresher(tmp_path, {"x": f"{base}/good.json"}, updates).refresh_all() == 1
    assert "cannot save" in caplog.text


async def test_a_failed_replace_leaves_no_temporary_file(
    base: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "ipranges" / "x.json").mkdir(parents=True)  # os.replace onto a directory fails
    updates = Updates()
    assert await refresher(tmp_path, {"x": f"{base}/good.json"}, updates).refresh_all() == 1
    assert "cannot save" in caplog.text
    assert [p.name for p in (tmp_path / "ipranges").iterdir()] == ["x.json"]


async def test_run_repeats_until_cancelled(base: str, tmp_path: Path) -> None:
    updates = Updates()
    job = refresher(tmp_path, {"x": f"{base}/good.json"}, updates, interval=0.01)
    task = asyncio.create_task(job.run())
    for _ in range(200):
        if len(updates) >= 2:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(updates) >= 2


async def test_run_survives_an_unexpected_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_session(*args: object, **kwargs: object) -> None:
        raise RuntimeError("no session")

    monkeypatch.setattr(aiohttp, "ClientSession", broken_session)
    job = refresher(tmp_path, {"x": "https://example.com/x.json"}, Updates(), interval=0.01)
    task = asyncio.create_task(job.run())
    await asyncio.sleep(0.05)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert "IP range refresh failed" in caplog.text


# load_saved: the saved copy wins when it is newer and from the same source


def _shipped(note: str = "2025-06-01", source: str = "https://example.com/x.json") -> IpRanges:
    return IpRanges({"x": Snapshot("x", source, note, OLD.networks), "y": OLD})


def _save(tmp_path: Path, document: object, name: str = "x") -> None:
    (tmp_path / "ipranges").mkdir(exist_ok=True)
    text = document if isinstance(document, str) else json.dumps(document)
    (tmp_path / "ipranges" / f"{name}.json").write_text(text)


SAVED = {
    "name": "x",
    "source": "https://example.com/x.json",
    "snapshot": "fetched 2026-03-04T05:06:07Z",
    "fetched_at": "2026-03-04T05:06:07Z",
    "prefixes": [{"ipv4Prefix": "198.51.100.0/24"}],
}


@pytest.mark.parametrize(
    ("shipped", "saved", "uses_saved"),
    [
        (_shipped(), SAVED, True),
        (_shipped(note="copied from somewhere, undated"), SAVED, True),
        (_shipped(note="2026-03-04"), SAVED, True),
        (_shipped(note="2026-03-05"), SAVED, False),  # the release ships a newer copy
        (_shipped(source="https://example.com/moved.json"), SAVED, False),
        (_shipped(), {**SAVED, "fetched_at": "yesterday"}, False),
        (_shipped(), {**SAVED, "prefixes": [{"ipv4Prefix": "x"}]}, False),
        (_shipped(), {k: v for k, v in SAVED.items() if k != "source"}, False),
        (_shipped(), "{not json", False),
    ],
)
def test_load_saved(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    shipped: IpRanges,
    saved: object,
    uses_saved: bool,
) -> None:
    _save(tmp_path, saved)
    ranges = load_saved(tmp_path, shipped)
    assert ranges.match("x", "198.51.100.1") is uses_saved
    assert ranges.match("x", "192.0.2.1") is not uses_saved
    assert ranges.snapshots["y"] is OLD
    if uses_saved:
        assert ranges.info("x") == ("https://example.com/x.json", "fetched 2026-03-04T05:06:07Z")


def test_load_saved_without_a_state_dir(tmp_path: Path) -> None:
    shipped = _shipped()
    assert load_saved(tmp_path / "missing", shipped) is shipped


async def test_a_refreshed_copy_is_loaded_at_the_next_start(base: str, tmp_path: Path) -> None:
    updates = Updates()
    url = f"{base}/good.json"
    await refresher(tmp_path, {"x": url}, updates).refresh_all()
    ranges = load_saved(tmp_path, _shipped(source=url))
    assert ranges.snapshots["x"] == updates[0][1]
