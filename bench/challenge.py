"""`python -m bench.challenge [--rounds N] [--browser N]`: what `challenge` costs, and whom.

Measured against a baseline taken in the same run: the proxy's CPU time per
request to decide and answer a plain `block` (the baseline), to issue a
challenge page, to check a valid cookie and to check an answer; the CPU time a
scraper spends solving one challenge in Python (hashlib) at the default
difficulty, which it pays once per /24 (or /48) and cookie lifetime; and, with
`--browser N`, the wall time a real headless Chromium needs to load the demo
site's release page through the proxy with the example challenge policy (a
fresh browser context each round: challenge, work, answer, page) against the
same page through the proxy with the shipped policy (no challenge).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from proxy.config.policy import Policy
from proxy.config.reservation import Reservation
from proxy.decision.act import Buckets, answer
from proxy.decision.challenge import Challenges, check_answer, issue, solve
from proxy.decision.challengegate import gate
from proxy.demo.site import bound_port, serve
from proxy.model import Action, ChallengeSpec, Classification, Identity, RequestInfo, Verdict

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"

UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0"
REQUEST = RequestInfo("GET", "label.example", "/releases/x", UA, "203.0.113.7", "text/html")
FOUND = Classification(None, Identity.NONE)


def _cpu_per_call(fn: Callable[[], object], n: int) -> float:
    start = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5000)
    parser.add_argument("--solves", type=int, default=20)
    parser.add_argument("--browser", type=int, default=0, help="Chromium rounds (0: skip)")
    args = parser.parse_args()
    cpu(args.rounds, args.solves)
    if args.browser:
        asyncio.run(browser(args.browser))


def cpu(rounds: int = 3000, solve_count: int = 20) -> dict[str, Any]:
    """The CPU figures, printed and returned (the suite's `challenge` micro benchmark)."""
    policy = Policy("Northern Lights Records", Reservation(), (), Verdict(Action.ALLOW, "default"))
    spec = ChallengeSpec()
    state = Challenges()
    block = Verdict(Action.BLOCK, "block-x")
    challenge = Verdict(Action.CHALLENGE, "challenge-x", challenge=spec)
    now = time.time()
    issued = issue(state.keys, spec, "challenge-x", REQUEST, now)
    nonce = solve(issued.token, spec.difficulty)
    query = f"t={issued.token}&n={nonce}&next=/"
    passed = check_answer(state, REQUEST, query, now)
    cookie = f"session=abc; optout_pass={passed.cookie}"
    header: Callable[[str], str | None] = {"cookie": None}.get
    with_cookie: Callable[[str], str | None] = {"cookie": cookie}.get

    def baseline() -> object:
        return answer(policy, block, REQUEST, FOUND, header, None, Buckets())

    def page() -> object:
        return gate(policy, challenge, spec, REQUEST, header, state, now)

    def cookie_check() -> object:
        return gate(policy, challenge, spec, REQUEST, with_cookie, state, now)

    def answer_check() -> object:  # the PoW and MAC checks; spending is a dict insert
        return check_answer(Challenges(state.keys), REQUEST, query, now)

    rows = []
    for name, fn in [
        ("block (baseline)", baseline),
        ("challenge page", page),
        ("cookie check", cookie_check),
        ("answer check", answer_check),
    ]:
        rows.append((name, min(_cpu_per_call(fn, rounds) for _ in range(3))))
    base = rows[0][1]
    print(f"proxy CPU per request ({rounds} rounds, best of 3):")
    for name, seconds in rows:
        print(f"  {name:18} {seconds * 1e6:8.1f} µs   {seconds / base:5.2f}× baseline")
    solves = []
    for i in range(solve_count):
        token = issue(state.keys, spec, "challenge-x", REQUEST, now + i).token
        start = time.process_time()
        solve(token, spec.difficulty)
        solves.append(time.process_time() - start)
    print(
        f"scraper CPU to solve once at difficulty {spec.difficulty} (Python hashlib, "
        f"{solve_count} tokens): median {statistics.median(solves) * 1e3:.0f} ms, "
        f"max {max(solves) * 1e3:.0f} ms"
    )
    figures: dict[str, Any] = {f"{name} µs": round(sec * 1e6, 1) for name, sec in rows}
    figures |= {f"{name} / baseline": round(sec / base, 2) for name, sec in rows[1:]}
    figures["python solve ms (median)"] = round(statistics.median(solves) * 1e3, 1)
    return figures


async def browser(rounds: int) -> None:
    site = await serve("127.0.0.1", 0)
    upstream = f"http://127.0.0.1:{bound_port(site)}"
    with tempfile.TemporaryDirectory() as tmp:
        example = (ROOT / "rules/examples/challenge.yaml").read_text()
        policies = {
            "shipped policy (baseline)": (ROOT / "rules/policy.yaml").read_text(),
            "challenge, difficulty 16": example.replace(
                "    network: datacenter\n", "    path: /\n"
            ),
        }
        times = {}
        for name, policy in policies.items():
            times[name] = await _page_loads(Path(tmp) / str(len(times)), upstream, policy, rounds)
    await site.cleanup()
    base = statistics.median(times["shipped policy (baseline)"])
    print(f"headless Chromium, release page through the proxy ({rounds} fresh contexts):")
    for name, seconds in times.items():
        median = statistics.median(seconds)
        print(
            f"  {name:26} median {median:6.2f} s  max {max(seconds):6.2f} s  {median / base:5.1f}×"
        )


async def _page_loads(tmp: Path, upstream: str, policy: str, rounds: int) -> list[float]:
    rules = tmp / "rules"
    shutil.copytree(ROOT / "rules", rules)
    (rules / "policy.yaml").write_text(policy)
    proxy = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "proxy", "run", "--upstream", upstream, "--listen", "127.0.0.1:0",
        "--rules", str(rules), "--log", str(tmp / "access.jsonl"), "--state", str(tmp / "state"),
        "--admin", "off", "--verify-dns", "off",
        stderr=asyncio.subprocess.PIPE, cwd=ROOT, env={**os.environ, "HOME": str(tmp)},
    )  # fmt: skip
    assert proxy.stderr is not None
    ready = (await asyncio.wait_for(proxy.stderr.readline(), 60)).decode()
    url = re.search(r"ready on (http://\S+)", ready).group(1)  # type: ignore[union-attr]
    chromium = await asyncio.create_subprocess_exec(
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update",
        "--remote-debugging-port=0", f"--user-data-dir={tmp / 'profile'}", "about:blank",
        stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        return await _drive(chromium, url + "/releases/aurora-ep", rounds)
    finally:
        chromium.kill()
        await chromium.wait()
        proxy.terminate()
        await asyncio.wait_for(proxy.wait(), 20)


async def _drive(chromium: asyncio.subprocess.Process, url: str, rounds: int) -> list[float]:
    assert chromium.stderr is not None
    found = None
    while found is None:
        line = (await asyncio.wait_for(chromium.stderr.readline(), 60)).decode()
        found = re.search(r"DevTools listening on (ws://\S+)", line)
    async with aiohttp.ClientSession() as client, client.ws_connect(found.group(1)) as ws:
        ids = iter(range(1, 10**9))

        async def call(method: str, session: str = "", **params: Any) -> dict[str, Any]:
            ident = next(ids)
            message = {"id": ident, "method": method, "params": params}
            await ws.send_str(json.dumps(message | ({"sessionId": session} if session else {})))
            async for reply in ws:
                data = json.loads(reply.data)
                if data.get("id") == ident:
                    return dict(data.get("result", {}))
            raise RuntimeError("Chromium closed the DevTools connection")

        seconds = []
        for _ in range(rounds):
            context = (await call("Target.createBrowserContext"))["browserContextId"]
            target = await call("Target.createTarget", url="about:blank", browserContextId=context)
            attached = await call(
                "Target.attachToTarget", targetId=target["targetId"], flatten=True
            )
            session = attached["sessionId"]
            start = time.perf_counter()
            await call("Page.navigate", session, url=url)
            title = ""
            while not title.startswith("Aurora EP"):
                await asyncio.sleep(0.02)
                result = await call("Runtime.evaluate", session, expression="document.title")
                title = result.get("result", {}).get("value", "")
                if time.perf_counter() - start > 120:
                    raise RuntimeError(f"the page never loaded: {title!r}")
            seconds.append(time.perf_counter() - start)
            await call("Target.disposeBrowserContext", browserContextId=context)
    return seconds


if __name__ == "__main__":
    main()
