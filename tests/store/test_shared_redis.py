"""proxy.store.redisstate against a real redis-server: exact, expiring, and never in the way.

Each test gets an empty database of the session's server (conftest.py); the
outage tests start their own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from redisserver import RedisServer

from proxy.decision.throttle import Throttle
from proxy.identity.fcrdns import FcrdnsResult, FcrdnsVerifier
from proxy.ops.metrics import Metrics
from proxy.prices import Price
from proxy.store import redisflags
from proxy.store.redisstate import RedisState, open_store
from proxy.store.shared import bucket_name

SLOW_MACHINE = 1.0  # per-call bound in these tests: the CI machine is shared


def _state(url: str, **kwargs: object) -> RedisState:
    return RedisState(url, timeout=SLOW_MACHINE, **kwargs)  # type: ignore[arg-type]


async def test_concurrent_takes_from_three_clients_are_exact(redis_url: str) -> None:
    clients = [_state(redis_url) for _ in range(3)]
    try:
        name = bucket_name("r", (0.001, 25), "GPTBot")
        results = await asyncio.gather(
            *(c.take(name, 0.001, 25) for _ in range(40) for c in clients)
        )
    finally:
        for c in clients:
            await c.close()
    assert sum(r.allowed for r in results) == 25
    assert {r.retry_after for r in results if not r.allowed} == {1000}
    assert all(c.errors == 0 for c in clients)


async def test_the_script_does_what_the_in_memory_bucket_does(redis_url: str) -> None:
    state = _state(redis_url)
    local = Throttle(1.0, 5, clock=lambda: 0.0)
    try:
        remote = [await state.take("b", 1.0, 5) for _ in range(7)]
    finally:
        await state.close()
    assert [(r.allowed, r.retry_after) for r in remote] == [
        tuple(local.take("b")) for _ in range(7)
    ]


async def test_a_bucket_refills_and_expires_once_full_again(
    redis_url: str, redis_server: RedisServer
) -> None:
    state = _state(redis_url)
    try:
        assert (await state.take("fast", 20.0, 1)).allowed
        assert not (await state.take("fast", 20.0, 1)).allowed
        await asyncio.sleep(0.15)  # 3 tokens' worth of time, capped at the burst of 1
        assert (await state.take("fast", 20.0, 1)).allowed
        await state.take("slow", 1 / 60, 2)
    finally:
        await state.close()
    # Full again after (burst - tokens) / rate = 60 s: the key goes then, plus a second.
    ttl = int(redis_server.command("PTTL", "optout:tb:slow").strip()[1:])
    assert 55_000 < ttl <= 61_000


async def _until(condition: Callable[[], Awaitable[bool]], within: float = 5.0) -> float:
    """Seconds until `condition` holds (polled); fails the test past `within`."""
    started = time.monotonic()
    while not await condition():
        assert time.monotonic() - started < within, "not within the time allowed"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def test_flags_set_by_one_process_reach_the_others_and_expire(redis_url: str) -> None:
    one, other = _state(redis_url), _state(redis_url)
    ja4 = "ja4:t13d1516h2_8daaf6152771_e5627efa2ab1"
    try:
        await one.start()
        await other.start()
        await one.flag(["ip:192.0.2.7", ja4], "trap", 1.0)

        async def seen() -> bool:
            return await other.flags(["ip:192.0.2.7"], ["trap"]) == {"trap"}

        assert await _until(seen) < 1.0
        assert await other.flags([ja4], ["trap"]) == {"trap"}
        assert await other.flags(["ip:192.0.2.8"], ["trap"]) == frozenset()
        assert await other.flags([], ["trap"]) == frozenset()
        await asyncio.sleep(1.1)
        assert await other.flags(["ip:192.0.2.7"], ["trap"]) == frozenset()
    finally:
        await one.close()
        await other.close()


async def test_a_process_started_later_has_the_flags_already_set(redis_url: str) -> None:
    one = _state(redis_url)
    try:
        await one.flag(["ip:192.0.2.20"], "trap", 60)
    finally:
        await one.close()
    late = _state(redis_url)
    try:
        await late.start()
        assert await late.flags(["ip:192.0.2.20"], ["trap"]) == {"trap"}
    finally:
        await late.close()


@pytest.mark.parametrize(
    "data",
    [
        "not json",
        "[]",
        '{"flag": "trap", "keys": [], "ttl_ms": 1000}',
        '{"flag": "trap", "keys": ["ip:1"], "ttl_ms": 0}',
        '{"flag": "trap", "keys": ["ip:1"], "ttl_ms": true}',
        '{"flag": "trap", "keys": ["ip:1"], "ttl_ms": 1.5}',
        '{"flag": 1, "keys": ["ip:1"], "ttl_ms": 1000}',
        '{"flag": "trap", "keys": [1], "ttl_ms": 1000}',
        '{"flag": "trap", "keys": "ip:1", "ttl_ms": 1000}',
        '{"flag": "trap", "keys": ' + json.dumps(["k"] * 17) + ', "ttl_ms": 1000}',
    ],
)
def test_odd_messages_on_the_channel_are_ignored(data: str) -> None:
    assert redisflags.parse_message(data) is None


def test_a_message_names_flag_keys_and_ttl() -> None:
    message = '{"flag": "trap", "keys": ["ip:192.0.2.1"], "ttl_ms": 1500}'
    assert redisflags.parse_message(message) == ("trap", ["ip:192.0.2.1"], 1.5)


class _Resolver:
    def __init__(self, ptr: list[str], forward: list[str]) -> None:
        self.ptr_answer, self.forward = ptr, forward
        self.calls = 0

    async def ptr(self, ip: str) -> list[str]:
        self.calls += 1
        return self.ptr_answer

    async def addresses(self, name: str) -> list[str]:
        return self.forward


class _Broken:
    async def ptr(self, ip: str) -> list[str]:
        raise OSError("no resolver here")

    async def addresses(self, name: str) -> list[str]:
        raise OSError("no resolver here")


async def test_a_verdict_found_by_one_process_is_used_by_the_others(redis_url: str) -> None:
    one, other = _state(redis_url), _state(redis_url)
    resolver = _Resolver(["crawl-66-249-66-1.googlebot.com."], ["66.249.66.1"])
    try:
        first = FcrdnsVerifier(resolver, shared=one)
        found = await first.check("66.249.66.1", ("googlebot.com",))
        assert found.ok
        assert resolver.calls == 1
        # A second process whose resolver is down still knows the answer.
        second = FcrdnsVerifier(_Broken(), shared=other)
        again = await second.check("66.249.66.1", ("googlebot.com",))
        assert again == FcrdnsResult(True, found.hostname, "googlebot.com", found.reason)
        assert second.shared_hits == 1
        assert second.lookups == 0
        # Inconclusive results stay with the process that had the flaky resolver.
        broken = await second.check("66.249.66.2", ("googlebot.com",))
        assert broken.inconclusive
        third = FcrdnsVerifier(_Resolver(["x.example."], []), shared=one)
        assert not (await third.check("66.249.66.2", ("googlebot.com",))).inconclusive
        assert third.shared_hits == 0
    finally:
        await one.close()
        await other.close()


async def test_a_forged_or_expired_verdict_is_ignored(redis_url: str) -> None:
    state = _state(redis_url)
    resolver = _Resolver(["crawl.example."], [])
    try:
        key = '["66.249.66.1",["googlebot.com"]]'
        for junk in ("not json", "[1,2]", '[true,null,null,"x",0]', '["yes",null,null,"x",9e12]'):
            await state.put_verdict(key, junk, 60)
            verifier = FcrdnsVerifier(resolver, shared=state)
            assert not (await verifier.check("66.249.66.1", ("googlebot.com",))).ok
            assert verifier.shared_hits == 0
    finally:
        await state.close()


async def test_charges_are_counted_across_processes(
    redis_url: str, redis_server: RedisServer
) -> None:
    clients = [_state(redis_url) for _ in range(3)]
    price = Price("USD", Decimal("0.000003"))
    try:
        await asyncio.gather(
            *(c.count_charge("charge-ai", "PerplexityBot", price) for c in clients)
        )
        await clients[0].count_charge("charge-ai", "PerplexityBot", price)
    finally:
        for c in clients:
            await c.close()
    reply = redis_server.command("HGETALL", 'optout:charge:["charge-ai","PerplexityBot","USD"]')
    fields = reply.split(b"\r\n")[2::2]
    assert dict(zip(fields[::2], fields[1::2], strict=True)) == {b"count": b"4", b"units": b"12"}


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections and never answers: a Redis that hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    listener.close()


async def test_a_hanging_store_costs_one_bounded_wait_then_nothing(
    silent_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = Metrics()
    state = RedisState(silent_server, timeout=0.05)
    state.count_in(metrics)
    caplog.set_level(logging.WARNING, "proxy.store.redisstate")
    started = time.monotonic()
    try:
        taken = [await state.take("b", 0.001, 2) for _ in range(5)]
        await state.flag(["ip:192.0.2.1"], "trap", 60)
        flagged = await state.flags(["ip:192.0.2.1"], ["trap"])
        verdict = await state.get_verdict("k")
        await state.count_charge("r", "a", Price("USD", Decimal("1")))
    finally:
        await state.close()
    # The first call waits its 50 ms; the rest go straight to this process's state.
    assert time.monotonic() - started < 5  # generous: only a hang would take this long
    assert [t.allowed for t in taken] == [True, True, False, False, False]  # still limited
    assert flagged == {"trap"}
    assert verdict is None
    assert state.errors >= 8
    assert not state.up
    assert metrics.store_errors.labels("throttle")._value.get() == 5
    assert metrics.store_up._value.get() == 0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "timeout" in warnings[0].getMessage()


async def test_a_password_is_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    url = f"redis://:hunter2@127.0.0.1:{port.getsockname()[1]}/0"
    port.close()  # nothing listens: refused
    caplog.set_level(logging.WARNING, "proxy.store.redisstate")
    state = RedisState(url, timeout=0.5)
    try:
        assert (await state.take("b", 1.0, 1)).allowed
    finally:
        await state.close()
    assert caplog.records
    assert all("hunter2" not in r.getMessage() for r in caplog.records)
    assert "***" in caplog.records[0].getMessage()


async def test_redis_killed_and_back_is_used_again_without_a_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = RedisServer(tmp_path / "redis")
    server.start()
    states: list[bool] = []
    state = _state(server.url, on_state=states.append)
    other = _state(server.url)
    caplog.set_level(logging.WARNING, "proxy.store.redisstate")
    try:
        await state.start()
        await other.start()
        server.kill()
        assert (await state.take("b", 0.001, 1)).allowed  # from this process: fails open
        assert not (await state.take("b", 0.001, 1)).allowed  # and still limits
        assert not state.up
        await state.flag(["ip:192.0.2.9"], "trap", 60)  # while Redis is away
        server.start()  # empty: nothing was persisted

        async def back() -> bool:
            return state.up

        await _until(back, within=10)  # the listener reconnects by itself
        await state.flag(["ip:192.0.2.10"], "trap", 60)

        async def shared() -> bool:
            return await other.flags(["ip:192.0.2.9", "ip:192.0.2.10"], ["trap"]) == {"trap"}

        await _until(shared, within=10)
        keys = server.command("KEYS", "optout:flag:*")
        assert b"192.0.2.9" in keys  # the flag set during the outage was sent on return
        assert b"192.0.2.10" in keys
    finally:
        await state.close()
        await other.close()
        server.kill()
    assert states[:2] == [False, True]
    messages = [r.getMessage() for r in caplog.records]
    assert any("unavailable" in m for m in messages)
    assert any(m.endswith("answers again: state is shared again") for m in messages)


def test_memory_means_no_shared_store() -> None:
    assert open_store(None) is None


async def test_the_takes_of_a_moment_share_one_round_trip(redis_url: str) -> None:
    state = _state(redis_url)
    try:
        results = await asyncio.gather(*(state.take("burst", 0.001, 50) for _ in range(200)))
        batches = state._bucket.batches
    finally:
        await state.close()
    assert sum(r.allowed for r in results) == 50
    assert batches <= 3  # 200 takes, not 200 round trips


async def test_a_redis_that_forgot_the_script_is_taught_it_again(
    redis_url: str, redis_server: RedisServer
) -> None:
    state = _state(redis_url)
    try:
        assert (await state.take("b", 0.001, 2)).allowed
        assert redis_server.command("SCRIPT", "FLUSH").startswith(b"+OK")  # as after a restart
        assert (await state.take("b", 0.001, 2)).allowed
        assert not (await state.take("b", 0.001, 2)).allowed
    finally:
        await state.close()
    assert state.errors == 0


async def test_check_says_whether_the_store_answers(redis_url: str) -> None:
    from proxy.engine.preflight import store_problem

    assert await store_problem(redis_url) is None
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    down = f"redis://:hunter2@127.0.0.1:{port.getsockname()[1]}/0"
    port.close()
    problem = await store_problem(down, wait=0.5)
    assert problem is not None
    assert "--store / OPTOUT_STORE" in problem
    assert "does not answer" in problem
    assert "hunter2" not in problem
