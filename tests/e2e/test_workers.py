"""`optout run --workers 2`: a supervisor and two real worker processes on one port.

Each test starts the command as an operator does and talks to it over loopback:
both workers answer (their records say which, in their own files), the
supervisor's /metrics adds them up, SIGHUP and POST /reload reach both, SIGTERM
drains both with every record written and both chains verifying, and a worker
killed with SIGKILL is replaced while requests keep being answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from harness import ROOT, Proxy, start_proxy
from prometheus_client.parser import text_string_to_metric_families
from tlscerts import make_ca, write_leaf

TOKEN = "workers-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
PODCATCHER = "AntennaPod/3.5.0"
BLOCK_ANTENNAPOD = "  - name: block-antennapod\n    agent: AntennaPod\n    action: block\n\n"
READY_WITHIN = 90.0  # two workers load the rules at once on a shared, loaded machine
WAIT = 60.0


class Site:
    """An upstream with /page and /slow/SECONDS; counts the slow requests that arrived."""

    def __init__(self) -> None:
        self.url = ""
        self.slow_arrived = 0

    def app(self) -> web.Application:
        async def page(request: web.Request) -> web.Response:
            return web.Response(text="<html><body>hello</body></html>", content_type="text/html")

        async def slow(request: web.Request) -> web.Response:
            self.slow_arrived += 1
            await asyncio.sleep(float(request.match_info["seconds"]))
            return web.Response(text="done")

        app = web.Application()
        app.router.add_get("/page", page)
        app.router.add_get("/slow/{seconds}", slow)
        return app


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    found = Site()
    runner = web.AppRunner(found.app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    found.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield found
    await runner.cleanup()


async def start_workers(site: Site, tmp: Path, rules: Path, started: list[Proxy]) -> Proxy:
    proxy = await start_proxy(
        site.url,
        tmp,
        "--workers",
        "2",
        rules=rules,
        env={"OPTOUT_ADMIN_TOKEN": TOKEN},
        ready_within=READY_WITHIN,
    )
    started.append(proxy)
    assert ", 2 workers" in proxy.ready
    return proxy


async def fetch(url: str, ua: str = BROWSER) -> int:
    """One request on a new connection: the kernel picks the worker for each."""
    connector = aiohttp.TCPConnector(force_close=True)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(
            url, headers={"User-Agent": ua}, timeout=aiohttp.ClientTimeout(total=WAIT)
        ) as response,
    ):
        await response.read()
        return response.status


async def admin(proxy: Proxy, path: str, method: str = "GET") -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, f"{proxy.admin}{path}", headers=AUTH) as r,
    ):
        return r.status, await r.text()


def total(text: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples (with these labels) in a Prometheus text."""
    found = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                found += sample.value
    return found


async def metrics(proxy: Proxy) -> str:
    status, text = await admin(proxy, "/metrics")
    assert status == 200
    return text


async def eventually(check: Any, within: float = WAIT) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "not reached in time"
        await asyncio.sleep(0.1)


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def ended(pid: int) -> bool:
    """Gone, or a zombie waiting for a parent that is not us to reap it."""
    try:
        return "(zombie)" in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True


def records(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def write_policy(rules: Path, extra_rule: str) -> None:
    text = (
        (ROOT / "rules" / "policy.yaml").read_text().replace("rules:\n", "rules:\n" + extra_rule, 1)
    )
    tmp = rules / ".policy.yaml.tmp"
    tmp.write_text(text)
    os.replace(tmp, rules / "policy.yaml")


def verify_chain(log: Path, head: Path, scratch: Path) -> str:
    """`optout logs verify` of one worker's file against that worker's chain head."""
    scratch.mkdir()
    shutil.copy(head, scratch / "chain-head.json")
    done = subprocess.run(
        [sys.executable, "-m", "proxy", "logs", "verify", str(log), "--state", str(scratch)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def head_matches_last_line(log: Path, head: Path) -> None:
    """Independently of the verifier: the saved head is the file's last line's sha256."""
    last = log.read_bytes().splitlines()[-1]
    saved = json.loads(head.read_text())
    assert saved["digest"] == hashlib.sha256(last).hexdigest()
    assert saved["sequence"] == json.loads(last)["event"]["sequence"]


async def test_two_workers_serve_reload_and_drain_with_every_record(
    site: Site, tmp_path: Path, rules: Path, started: list[Proxy]
) -> None:
    proxy = await start_workers(site, tmp_path, rules, started)
    assert await admin(proxy, "/readyz") == (200, "ready\n")
    assert await admin(proxy, "/healthz") == (200, "ok\n")

    statuses = await asyncio.gather(*(fetch(f"{proxy.url}/page") for _ in range(40)))
    assert statuses == [200] * 40
    text = await metrics(proxy)
    assert total(text, "optout_requests_total", status="200") == 40
    assert total(text, "optout_workers_ready") == 2
    assert total(text, "optout_rules_version_info") == 1  # one version, not one per worker

    # SIGHUP reaches both workers: each reloads once, and both block the new agent.
    write_policy(rules, BLOCK_ANTENNAPOD)
    proxy.process.send_signal(signal.SIGHUP)

    async def both_reloaded() -> bool:
        done = total(
            await metrics(proxy), "optout_reloads_total", reason="signal", result="success"
        )
        return done >= 2

    await eventually(both_reloaded)
    blocked = await asyncio.gather(*(fetch(f"{proxy.url}/page", PODCATCHER) for _ in range(20)))
    assert blocked == [403] * 20

    status, body = await admin(proxy, "/reload", "POST")
    reply = json.loads(body)
    assert status == 200, body
    assert reply["ok"] is True
    assert [(w["worker"], w["ok"]) for w in reply["workers"]] == [(1, True), (2, True)]
    assert {w["version"] for w in reply["workers"]} == {reply["version"]}

    # SIGTERM while requests are in flight: both drain, every answer arrives and is logged.
    in_flight = [asyncio.create_task(fetch(f"{proxy.url}/slow/1.5")) for _ in range(6)]

    async def all_arrived() -> bool:
        return site.slow_arrived == 6

    await eventually(all_arrived)
    proxy.process.send_signal(signal.SIGTERM)
    assert await asyncio.gather(*in_flight) == [200] * 6
    assert await asyncio.wait_for(proxy.process.wait(), WAIT) == 0

    logs = [tmp_path / "access-1.jsonl", tmp_path / "access-2.jsonl"]
    assert not (tmp_path / "access.jsonl").exists()
    per_worker = [records(log) for log in logs]
    for worker, found in enumerate(per_worker, start=1):
        assert found, f"worker {worker} answered nothing"
        assert {r["optout"]["worker"] for r in found} == {worker}
    answered = [r for found in per_worker for r in found]
    paths = sorted((r["url"]["path"], r["http"]["response"]["status_code"]) for r in answered)
    assert paths == sorted([("/page", 200)] * 40 + [("/page", 403)] * 20 + [("/slow/1.5", 200)] * 6)
    assert all(any(r["http"]["response"]["status_code"] == 403 for r in f) for f in per_worker)
    for worker, log in enumerate(logs, start=1):
        head = tmp_path / "state" / f"chain-head-{worker}.json"
        head_matches_last_line(log, head)
        said = verify_chain(log, head, tmp_path / f"verify-{worker}")
        assert f"records 1 to {len(per_worker[worker - 1])}" in said


async def test_a_killed_worker_is_replaced_while_requests_are_answered(
    site: Site, tmp_path: Path, rules: Path, started: list[Proxy]
) -> None:
    proxy = await start_workers(site, tmp_path, rules, started)
    first = await asyncio.gather(*(fetch(f"{proxy.url}/page") for _ in range(10)))
    assert first == [200] * 10
    await asyncio.sleep(1.5)  # the records are written, the chain heads saved
    assert total(await metrics(proxy), "optout_requests_total") == 10  # what each worker counted

    workers = children(proxy.process.pid)
    assert len(workers) == 2
    victim = workers[0]
    os.kill(victim, signal.SIGKILL)
    # Connections the kernel gives the dead worker's socket wait for its replacement.
    during = await asyncio.gather(*(fetch(f"{proxy.url}/page") for _ in range(20)))
    assert during == [200] * 20

    async def ready() -> bool:
        return (await admin(proxy, "/readyz"))[0] == 200

    await eventually(ready)
    replaced = children(proxy.process.pid)
    assert victim not in replaced
    assert len(replaced) == 2
    text = await metrics(proxy)
    assert total(text, "optout_worker_restarts_total") == 1
    # The dead worker's counts are kept: the sum never goes back (no false counter reset).
    assert total(text, "optout_requests_total") == 30

    # A supervisor killed outright takes its workers with it: each drains and exits.
    proxy.process.kill()
    await proxy.process.wait()
    assert proxy.process.stderr is not None
    said = await asyncio.wait_for(proxy.process.stderr.read(), WAIT)  # EOF: workers gone too
    assert "was killed by SIGKILL; restarting it in" in said.decode()

    async def workers_ended() -> bool:
        return all(ended(pid) for pid in replaced)

    await eventually(workers_ended, within=10)
    logs = [tmp_path / "access-1.jsonl", tmp_path / "access-2.jsonl"]
    assert sum(len(records(log)) for log in logs) == 30
    for worker, log in enumerate(logs, start=1):  # the replacement went on with the chain
        verify_chain(log, tmp_path / "state" / f"chain-head-{worker}.json", tmp_path / f"v{worker}")


async def test_standard_output_cannot_be_shared_by_workers(tmp_path: Path, site: Site) -> None:
    command = [sys.executable, "-m", "proxy", "run", "--upstream", site.url, "--workers", "2"]
    command += ["--log", "-", "--state", str(tmp_path / "state"), "--admin", "off"]
    for extra in ([], ["--check"]):
        done = await asyncio.create_subprocess_exec(
            *command,
            *extra,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(done.communicate(), WAIT)
        assert done.returncode == 1
        assert out == b""
        assert b"--workers / OPTOUT_WORKERS 2 needs --log FILE" in err
    with contextlib.suppress(FileNotFoundError):
        assert not list((tmp_path / "state").iterdir())


async def test_both_workers_serve_the_https_listener_with_the_sites_certificate(
    site: Site, tmp_path: Path, rules: Path, started: list[Proxy]
) -> None:
    ca = make_ca()
    write_leaf(ca, tmp_path / "certs", "label", ["label.test"])
    (rules / "sites.yaml").write_text(
        f"sites:\n  - hosts: [label.test]\n    upstream: {site.url}\n"
        f"    tls: {{cert: {tmp_path}/certs/label.pem, key: {tmp_path}/certs/label.key}}\n"
    )
    proxy = await start_proxy(
        "",
        tmp_path,
        "--workers",
        "2",
        "--tls",
        "127.0.0.2:0",
        rules=rules,
        ready_within=READY_WITHIN,
    )
    started.append(proxy)
    assert proxy.https is not None
    context = ssl.create_default_context(cadata=ca.pem().decode())

    async def fetch_tls() -> int:
        """One request on a new TLS connection, verified against the test CA as label.test:
        a certificate other than the site's fails the handshake."""
        connector = aiohttp.TCPConnector(force_close=True, ssl=context)
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.get(
                f"https://{proxy.https}/page",
                server_hostname="label.test",
                headers={"Host": "label.test", "User-Agent": BROWSER},
            ) as response,
        ):
            await response.read()
            return response.status

    assert await asyncio.gather(*(fetch_tls() for _ in range(24))) == [200] * 24
    proxy.process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proxy.process.wait(), WAIT) == 0
    per_worker = [records(tmp_path / f"access-{i}.jsonl") for i in (1, 2)]
    assert [len(found) > 0 for found in per_worker] == [True, True]
    assert {r["tls"]["client"]["server_name"] for f in per_worker for r in f} == {"label.test"}
