"""Operations end to end: admin endpoints, hot reload, shadow mode, graceful shutdown, logging."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from harness import ROOT, Proxy, Upstream, start_proxy
from prometheus_client.parser import text_string_to_metric_families

from proxy.errors import RuleError
from proxy.ruleset import load_rules

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
CLAUDEBOT = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0)"
ANTENNAPOD = "AntennaPod/3.5.0"
TOKEN = "s3cret-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WAIT = 10.0
PHASE = 0.3  # seconds of traffic between two rewrites of the rules
BLOCK_ANTENNAPOD = "  - name: block-antennapod\n    agent: AntennaPod\n    action: block\n\n"


def write_policy(rules: Path, extra_rule: str = "", head: str = "") -> None:
    """The shipped policy with `extra_rule` first among the rules; replaced atomically."""
    text = (ROOT / "rules" / "policy.yaml").read_text()
    text = head + text.replace("rules:\n", "rules:\n" + extra_rule, 1)
    tmp = rules / ".policy.yaml.tmp"
    tmp.write_text(text)
    os.replace(tmp, rules / "policy.yaml")


def write_invalid_policy(rules: Path) -> None:
    write_policy(rules, "  - name: broken\n    purpose: ai-trainig\n    action: block\n\n")


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the Prometheus text, 0 when absent."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


async def get(session: aiohttp.ClientSession, url: str, ua: str = BROWSER) -> int:
    async with session.get(url, headers={"User-Agent": ua}) as response:
        await response.read()
        return response.status


async def admin_text(proxy: Proxy, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(f"{proxy.admin}{path}") as r:
        return r.status, await r.text()


async def post_reload(
    proxy: Proxy, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, object]]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{proxy.admin}/reload", headers=headers) as r,
    ):
        return r.status, await r.json()


async def stop(proxy: Proxy) -> tuple[list[dict[str, object]], str]:
    """SIGTERM; the access log's records and everything the proxy wrote on stderr."""
    records = await proxy.stop()
    assert proxy.process.stderr is not None
    return records, (await proxy.process.stderr.read()).decode()


async def wait_for(condition: Callable[[], Awaitable[bool]]) -> None:
    """Poll an async predicate until it holds, for at most WAIT seconds."""
    deadline = time.monotonic() + WAIT
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_admin_endpoints(
    upstream: Upstream, tmp_path: Path, rules: Path, started: list[Proxy]
) -> None:
    proxy = await start_proxy(
        upstream.url, tmp_path, rules=rules, env={"OPTOUT_ADMIN_TOKEN": TOKEN}
    )
    started.append(proxy)
    assert await admin_text(proxy, "/healthz") == (200, "ok\n")
    assert await admin_text(proxy, "/readyz") == (200, "ready\n")
    async with aiohttp.ClientSession() as session:
        assert await get(session, f"{proxy.url}/page") == 200
        assert await get(session, f"{proxy.url}/page", CLAUDEBOT) == 403
        async with session.get(f"{proxy.admin}/reload") as response:
            assert response.status == 405  # only POST; nothing else writes
    status, body = await post_reload(proxy)
    assert status == 401
    assert "Bearer" in str(body["error"])
    assert (await post_reload(proxy, {"Authorization": "Bearer wrong"}))[0] == 401
    status, body = await post_reload(proxy, AUTH)
    assert (status, body["ok"]) == (200, True)
    await asyncio.sleep(0.2)  # the access log's thread writes the two records
    status, text = await admin_text(proxy, "/metrics")
    assert status == 200
    browser = {"agent": "none", "purpose": "none", "identity": "none", "action": "allow"}
    assert metric(text, "optout_requests_total", **browser, status="200") == 1
    claude = {"agent": "ClaudeBot", "purpose": "ai-training", "identity": "claimed"}
    assert metric(text, "optout_requests_total", **claude, action="block", status="403") == 1
    assert metric(text, "optout_request_duration_seconds_count", action="allow") == 1
    assert metric(text, "optout_rules_version_info", version=str(body["version"])) == 1
    assert metric(text, "optout_reloads_total", reason="admin", result="success") == 1
    assert metric(text, "optout_rules_last_reload_success") == 1
    assert metric(text, "optout_log_records_written_total") == 2
    assert metric(text, "optout_log_records_lost_total") == 0
    _, stderr = await stop(proxy)
    assert TOKEN not in stderr


async def test_without_a_token_or_an_upstream(tmp_path: Path, started: list[Proxy]) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proxy = await start_proxy(f"http://127.0.0.1:{port}", tmp_path)
    started.append(proxy)
    status, text = await admin_text(proxy, "/readyz")
    assert status == 503
    assert f"upstream 127.0.0.1:{port} unreachable" in text
    assert (await admin_text(proxy, "/healthz"))[0] == 200
    status, body = await post_reload(proxy, AUTH)
    assert status == 403
    assert "no admin token is configured" in str(body["error"])


async def test_invalid_rules_are_reported_and_the_old_rules_keep_serving(
    upstream: Upstream, tmp_path: Path, rules: Path, started: list[Proxy]
) -> None:
    proxy = await start_proxy(
        upstream.url, tmp_path, rules=rules, env={"OPTOUT_ADMIN_TOKEN": TOKEN}
    )
    started.append(proxy)
    write_invalid_policy(rules)
    status, body = await post_reload(proxy, AUTH)
    assert status == 422
    assert body["ok"] is False
    with pytest.raises(RuleError) as expected:  # what `optout check` prints
        load_rules(rules)
    assert body["errors"] == [str(p) for p in expected.value.problems]
    errors = body["errors"]
    assert isinstance(errors, list)
    assert "rule 1 (\"broken\"): purpose: unknown purpose 'ai-trainig'" in errors[0]
    async with aiohttp.ClientSession() as session:
        assert await get(session, f"{proxy.url}/page", CLAUDEBOT) == 403
    _, text = await admin_text(proxy, "/metrics")
    assert metric(text, "optout_reloads_total", reason="admin", result="failure") == 1
    assert metric(text, "optout_rules_last_reload_success") == 0
    write_policy(rules)
    status, body = await post_reload(proxy, AUTH)
    assert (status, body["ok"]) == (200, True)
    _, stderr = await stop(proxy)
    assert "unknown purpose 'ai-trainig'" in stderr


async def test_reload_on_file_change_and_on_sighup_logged_as_json(
    upstream: Upstream, tmp_path: Path, rules: Path, started: list[Proxy]
) -> None:
    env = {"OPTOUT_LOG_FORMAT": "json", "OPTOUT_LOG_LEVEL": "info"}
    proxy = await start_proxy(upstream.url, tmp_path, rules=rules, env=env)
    started.append(proxy)
    ready = json.loads(proxy.ready)  # the same regex finds the address in it
    assert ready["message"].startswith(f"optout-proxy ready on {proxy.url} -> ")
    async with aiohttp.ClientSession() as session:
        url = f"{proxy.url}/page"
        assert await get(session, url, ANTENNAPOD) == 200
        write_policy(rules, BLOCK_ANTENNAPOD)

        async def blocked() -> bool:
            return await get(session, url, ANTENNAPOD) == 403

        await wait_for(blocked)
        proxy.process.send_signal(signal.SIGHUP)

        async def reloaded_by_signal() -> bool:
            text = (await admin_text(proxy, "/metrics"))[1]
            return metric(text, "optout_reloads_total", reason="signal", result="success") == 1

        await wait_for(reloaded_by_signal)
    _, text = await admin_text(proxy, "/metrics")
    assert metric(text, "optout_reloads_total", reason="file", result="success") >= 1
    _, stderr = await stop(proxy)
    lines = [json.loads(line) for line in stderr.splitlines()]
    assert all(set(e) >= {"@timestamp", "log.level", "log.logger", "message"} for e in lines)
    reloads = [e["message"] for e in lines if e["log.logger"] == "proxy.engine.reloader"]
    assert any(m.startswith("rules reloaded (file): version ") for m in reloads)
    assert any(m.startswith("rules reloaded (signal): version ") for m in reloads)


async def test_no_request_is_dropped_or_misdecided_during_reloads(
    upstream: Upstream, tmp_path: Path, rules: Path, started: list[Proxy]
) -> None:
    proxy = await start_proxy(
        upstream.url, tmp_path, rules=rules, env={"OPTOUT_ADMIN_TOKEN": TOKEN}
    )
    started.append(proxy)
    outcomes: list[tuple[str, float, float, int]] = []  # user agent, start, end, status
    done = asyncio.Event()

    async def client(agents: tuple[str, ...]) -> None:
        async with aiohttp.ClientSession() as session:
            while not done.is_set():
                for ua in agents:
                    start = time.monotonic()
                    status = await get(session, f"{proxy.url}/page", ua)
                    outcomes.append((ua, start, time.monotonic(), status))

    mix = (BROWSER, CLAUDEBOT, ANTENNAPOD)
    clients = [asyncio.create_task(client(mix[i % 3 :] + mix[: i % 3])) for i in range(6)]
    marks = await rewrite_rules_under_load(proxy, rules)
    done.set()
    await asyncio.gather(*clients)
    _, text = await admin_text(proxy, "/metrics")
    records, _ = await stop(proxy)

    assert metric(text, "optout_reloads_total", reason="admin", result="success") == 2
    assert metric(text, "optout_reloads_total", reason="admin", result="failure") == 1
    assert metric(text, "optout_reloads_total", reason="signal", result="failure") == 1

    assert len(outcomes) > 100
    for ua, start, end, status in outcomes:
        if ua == ANTENNAPOD:
            assert status in expected_antennapod(start, end, marks), (start, end, marks)
        else:
            assert status == (200 if ua == BROWSER else 403)
    answered = Counter((ua, status) for ua, _, _, status in outcomes)
    logged = Counter(
        (r["user_agent"]["original"], r["http"]["response"]["status_code"])  # type: ignore[index]
        for r in records
    )
    assert logged == answered  # every request has its record
    rules_by_status = {
        (r["http"]["response"]["status_code"], r["optout"]["rule"])  # type: ignore[index]
        for r in records
    }
    assert rules_by_status <= {
        (200, "default"),
        (403, "block-ai-training"),
        (403, "block-antennapod"),
    }


async def rewrite_rules_under_load(proxy: Proxy, rules: Path) -> dict[str, float]:
    """Block AntennaPod, break the policy, restore it; with every trigger, while clients run."""
    marks = {"first-write": 0.0}
    await asyncio.sleep(PHASE)
    marks["first-write"] = time.monotonic()
    write_policy(rules, BLOCK_ANTENNAPOD)  # the watcher reloads it too, concurrently
    assert (await post_reload(proxy, AUTH))[0] == 200
    marks["blocking"] = time.monotonic()
    await asyncio.sleep(PHASE)
    write_invalid_policy(rules)
    proxy.process.send_signal(signal.SIGHUP)
    assert (await post_reload(proxy, AUTH))[0] == 422  # the old rules keep serving
    await asyncio.sleep(PHASE)
    marks["unblocking"] = time.monotonic()
    write_policy(rules)
    assert (await post_reload(proxy, AUTH))[0] == 200
    marks["open"] = time.monotonic()
    await asyncio.sleep(PHASE)
    return marks


def expected_antennapod(start: float, end: float, marks: dict[str, float]) -> set[int]:
    """What the rules in force say for AntennaPod; while they are being swapped, either."""
    if end < marks["first-write"] or start > marks["open"]:
        return {200}
    if start > marks["blocking"] and end < marks["unblocking"]:
        return {403}  # blocked, and the invalid policy in between changed nothing
    return {200, 403}


@pytest.mark.parametrize("how", ["flag", "policy"])
async def test_shadow_mode_decides_and_logs_but_blocks_nothing(
    upstream: Upstream, tmp_path: Path, rules: Path, started: list[Proxy], how: str
) -> None:
    if how == "policy":
        write_policy(rules, head="enforce: false\n")
    args = ("--shadow",) if how == "flag" else ()
    proxy = await start_proxy(upstream.url, tmp_path, *args, rules=rules)
    started.append(proxy)
    assert "SHADOW MODE" in proxy.ready
    async with aiohttp.ClientSession() as session:
        # ClaudeBot's operator publishes no check: the claim stands, as an ai-training crawler.
        assert await get(session, f"{proxy.url}/page", CLAUDEBOT) == 200
        assert await get(session, f"{proxy.url}/page") == 200
    assert upstream.requests == ["/page", "/page"]
    _, text = await admin_text(proxy, "/metrics")
    claude = {"agent": "ClaudeBot", "purpose": "ai-training", "identity": "claimed"}
    assert metric(text, "optout_requests_total", **claude, action="allow", status="200") == 1
    shadowed = {**claude, "action": "block", "rule": "block-ai-training"}
    assert metric(text, "optout_shadow_decisions_total", **shadowed) == 1
    records, _ = await stop(proxy)
    crawler, browser = records
    assert crawler["event"]["action"] == "allow"  # type: ignore[index]
    assert crawler["optout"]["rule"] == "shadow"  # type: ignore[index]
    assert crawler["optout"]["shadow"] == {"action": "block", "rule": "block-ai-training"}  # type: ignore[index]
    assert crawler["http"]["response"]["status_code"] == 200  # type: ignore[index]
    assert "shadow" not in browser["optout"]  # type: ignore[operator]
    assert browser["optout"]["rule"] == "default"  # type: ignore[index]


@pytest.fixture
async def slow_upstream() -> AsyncIterator[tuple[str, asyncio.Event]]:
    """An upstream whose /slow/SECONDS answers after that long; the event says one arrived."""
    arrived, finished = asyncio.Event(), asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        arrived.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(finished.wait(), float(request.match_info["seconds"]))
        return web.Response(text="done")

    app = web.Application()
    app.router.add_get("/slow/{seconds}", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", arrived
    finished.set()
    await runner.cleanup()


async def test_sigterm_lets_the_request_in_flight_finish(
    slow_upstream: tuple[str, asyncio.Event], tmp_path: Path, started: list[Proxy]
) -> None:
    url, arrived = slow_upstream
    proxy = await start_proxy(url, tmp_path)
    started.append(proxy)
    async with aiohttp.ClientSession() as session:
        in_flight = asyncio.create_task(get(session, f"{proxy.url}/slow/1"))
        await arrived.wait()
        proxy.process.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        assert await admin_text(proxy, "/readyz") == (503, "shutting down\n")
        with pytest.raises(aiohttp.ClientConnectorError):  # no new connections
            async with aiohttp.ClientSession() as other:
                await get(other, f"{proxy.url}/slow/0")
        assert await in_flight == 200
    records, _ = await stop(proxy)
    assert proxy.process.returncode == 0
    assert [(r["url"]["path"], r["http"]["response"]["status_code"]) for r in records] == [  # type: ignore[index]
        ("/slow/1", 200)
    ]


async def test_shutdown_waits_no_longer_than_the_timeout(
    slow_upstream: tuple[str, asyncio.Event], tmp_path: Path, started: list[Proxy]
) -> None:
    url, arrived = slow_upstream
    proxy = await start_proxy(url, tmp_path, env={"OPTOUT_SHUTDOWN_TIMEOUT": "0.2"})
    started.append(proxy)
    async with aiohttp.ClientSession() as session:
        in_flight = asyncio.create_task(get(session, f"{proxy.url}/slow/30"))
        await arrived.wait()
        start = time.monotonic()
        proxy.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proxy.process.wait(), 10)
        assert time.monotonic() - start < 5
        with pytest.raises(aiohttp.ClientError):
            await in_flight
