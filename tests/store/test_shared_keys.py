"""proxy.store.rediskeys against a real redis-server: a challenge solved on one process
passes on another, keys rotate, and a store that cannot be read never breaks signing."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from redis.asyncio import Redis

from proxy.decision.challenge import (
    COOKIE,
    Challenges,
    check_answer,
    check_cookie,
    issue,
    solve,
)
from proxy.decision.challengestore import MemoryKeys, SpentAnswers, StateDirKeys
from proxy.model import ChallengeSpec, RequestInfo
from proxy.store.rediskeys import RedisKeys
from proxy.store.redisstate import RedisState

PERIOD = 3600
NOW = 1_800_000_000.0 + 100  # early in a period
SPEC = ChallengeSpec(difficulty=4, ttl=600)
REQUEST = RequestInfo("GET", "label.example", "/music", "Mozilla/5.0 Firefox/128.0", "192.0.2.5")


def _client(url: str) -> Redis:
    return Redis.from_url(url, decode_responses=True)


async def test_a_cookie_from_one_process_passes_on_another(redis_url: str) -> None:
    one, other = _client(redis_url), _client(redis_url)
    try:
        a, b = RedisKeys(one, period=PERIOD), RedisKeys(other, period=PERIOD)
        await a.refresh(NOW)
        await b.refresh(NOW)
        issued = issue(a, SPEC, "challenge-browsers", REQUEST, NOW)
        query = f"t={issued.token}&n={solve(issued.token, SPEC.difficulty)}&next=/music"
        answer = check_answer(Challenges(a, SpentAnswers()), REQUEST, query, NOW + 1)
        assert answer.ok
        cookie = f"{COOKIE}={answer.cookie}"
        assert check_cookie(b, SPEC, REQUEST, cookie, NOW + 2).ok  # the other process
        assert a.signing_key(NOW)[0] == f"r{int(NOW // PERIOD)}"
        assert a.signing_key(NOW) == b.signing_key(NOW)
        # A challenge signed with one process's own key is refused by another.
        lone = issue(MemoryKeys(PERIOD), SPEC, "challenge-browsers", REQUEST, NOW)
        query = f"t={lone.token}&n={solve(lone.token, SPEC.difficulty)}&next=/music"
        refused = check_answer(Challenges(b, SpentAnswers()), REQUEST, query, NOW + 1)
        assert not refused.ok
        assert refused.reason in ("answer-forged", "answer-unknown-key")
    finally:
        await one.aclose()
        await other.aclose()


async def test_keys_rotate_and_the_previous_period_is_still_accepted(redis_url: str) -> None:
    client = _client(redis_url)
    try:
        keys = RedisKeys(client, period=PERIOD)
        await keys.refresh(NOW)
        old_id, old_key = keys.signing_key(NOW)
        later = NOW + PERIOD  # the next period: its key was read ahead
        new_id, new_key = keys.signing_key(later)
        assert new_id != old_id
        assert new_key != old_key
        assert keys.key(old_id, later) == old_key  # still accepted for one period
        await keys.refresh(later + PERIOD)
        assert keys.key(old_id, later + PERIOD) is None  # two periods on: refused
        assert keys.key("r12x", NOW) is None
        assert keys.key("r" + "9" * 13, NOW) is None
    finally:
        await client.aclose()


async def test_before_redis_answers_this_process_signs_with_its_own_keys(
    tmp_path: Path,
) -> None:
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    url = f"redis://127.0.0.1:{port.getsockname()[1]}/0"
    port.close()  # nothing listens
    state = RedisState(url, timeout=0.2)
    try:
        await state.start(wait=0.5)
        local = StateDirKeys(tmp_path / "state")
        keys = state.challenge_keys(local)
        key_id, key = keys.signing_key(NOW)
        assert key_id == str(int(NOW // (7 * 24 * 3600)))  # the state dir's, not r…
        assert keys.key(key_id, NOW) == key
        await asyncio.sleep(0.05)  # the background read fails quietly
        assert keys.signing_key(NOW) == (key_id, key)
    finally:
        await state.close()


async def test_memory_store_keeps_the_local_keys() -> None:
    from proxy.store.shared import MemoryState

    local = MemoryKeys()
    assert MemoryState().challenge_keys(local) is local
