"""Token-bucket throttling: the boundary, refill, bounded memory, speed, rate parsing."""

from __future__ import annotations

import tracemalloc

import pytest

from proxy.config.rule import parse_rate
from proxy.decision.throttle import Throttle, ThrottleResult


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_exactly_burst_pass_at_once_then_retry_after(clock: Clock) -> None:
    throttle = Throttle(rate=2, burst=5, clock=clock)
    assert [throttle.take("GPTBot").allowed for _ in range(5)] == [True] * 5
    assert throttle.take("GPTBot") == ThrottleResult(False, 1)  # one token in 0.5 s: 1 s


def test_refill_after_time_passes(clock: Clock) -> None:
    throttle = Throttle(rate=10, burst=3, clock=clock)
    for _ in range(3):
        assert throttle.take("a").allowed
    assert not throttle.take("a").allowed
    clock.now += 0.1  # exactly one token back
    assert throttle.take("a").allowed
    assert not throttle.take("a").allowed
    clock.now += 60  # refills to the burst, no further
    assert [throttle.take("a").allowed for _ in range(4)] == [True, True, True, False]


@pytest.mark.parametrize(
    ("rate", "elapsed", "retry_after"),
    [
        (1 / 60, 0.0, 60),  # one a minute
        (1 / 60, 30.0, 30),
        (1 / 60, 59.5, 1),  # never below 1 second
        (1 / 3600, 0.0, 3600),
        (1000 / 3600, 0.0, 4),  # 3.6 s rounds up
        (100.0, 0.0, 1),
    ],
)
def test_retry_after_is_the_wait_rounded_up(
    clock: Clock, rate: float, elapsed: float, retry_after: int
) -> None:
    throttle = Throttle(rate=rate, burst=1, clock=clock)
    assert throttle.take("k").allowed
    clock.now += elapsed
    assert throttle.take("k") == ThrottleResult(False, retry_after)


def test_waiting_as_told_gets_through(clock: Clock) -> None:
    throttle = Throttle(rate=1000 / 3600, burst=1, clock=clock)
    throttle.take("k")
    for _ in range(50):
        refused = throttle.take("k")
        assert not refused.allowed
        clock.now += refused.retry_after
        assert throttle.take("k").allowed


def test_refusals_take_nothing(clock: Clock) -> None:
    throttle = Throttle(rate=1, burst=1, clock=clock)
    throttle.take("k")
    for _ in range(100):
        throttle.take("k")
    clock.now += 1
    assert throttle.take("k").allowed


def test_keys_are_independent(clock: Clock) -> None:
    throttle = Throttle(rate=1, burst=1, clock=clock)
    assert throttle.take(("GPTBot", None)).allowed
    assert throttle.take(("GPTBot", "192.0.2.1")).allowed
    assert throttle.take(("ClaudeBot", None)).allowed
    assert not throttle.take(("GPTBot", None)).allowed


def test_a_clock_stepping_back_does_not_add_tokens(clock: Clock) -> None:
    throttle = Throttle(rate=1, burst=1, clock=clock)
    throttle.take("k")
    clock.now -= 100
    assert not throttle.take("k").allowed


def _address(i: int) -> tuple[str, str]:
    return ("GPTBot", f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}")


def test_200k_distinct_keys_keep_at_most_max_keys(clock: Clock) -> None:
    throttle = Throttle(rate=1, burst=1, max_keys=10_000, clock=clock)
    for i in range(200_000):
        assert throttle.take(_address(i)).allowed  # every new key starts full
        assert len(throttle) <= 10_000
    assert len(throttle) == 10_000


def test_memory_stops_growing_at_max_keys(clock: Clock) -> None:
    throttle = Throttle(rate=1, burst=1, max_keys=5_000, clock=clock)
    for i in range(5_000):
        throttle.take(_address(i))
    tracemalloc.start()  # counts what is allocated from here on, less what of it is freed
    try:
        for i in range(5_000, 10_000):
            throttle.take(_address(i))
        one_full_table, _ = tracemalloc.get_traced_memory()
        for i in range(10_000, 40_000):
            throttle.take(_address(i))
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after < one_full_table * 1.5  # unbounded, it would be about 7 times as much


def test_the_per_agent_key_survives_a_flood_of_addresses(clock: Clock) -> None:
    throttle = Throttle(rate=1, burst=2, max_keys=100, clock=clock)
    throttle.take("GPTBot")
    for i in range(1000):
        throttle.take("GPTBot")  # every request takes the agent's key too...
        throttle.take(f"GPTBot@{i}")  # ...and the address's
    assert len(throttle) == 100
    assert not throttle.take("GPTBot").allowed  # its bucket was never reset
    assert throttle.take("GPTBot@0").allowed  # an evicted address starts full again


def test_eviction_is_least_recently_used(clock: Clock) -> None:
    throttle = Throttle(rate=1, burst=1, max_keys=2, clock=clock)
    throttle.take("a")
    throttle.take("b")
    throttle.take("a")  # refused, but "a" is now the most recent
    throttle.take("c")  # evicts "b"
    assert not throttle.take("a").allowed
    assert throttle.take("b").allowed


def test_a_flood_of_keys_keeps_the_cap() -> None:
    # Speed is bench/store.py's; here, only that a flood of addresses stays bounded.
    throttle = Throttle(rate=5, burst=10, max_keys=50_000)
    for i in range(100_000):
        assert throttle.take(_address(i)).allowed
    assert len(throttle) == 50_000


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"rate": 0, "burst": 1}, "rate 0 must be a positive number"),
        ({"rate": -1, "burst": 1}, "must be a positive number"),
        ({"rate": float("nan"), "burst": 1}, "must be a positive number"),
        ({"rate": float("inf"), "burst": 1}, "must be a positive number"),
        ({"rate": 1, "burst": 0}, "burst 0 must be a whole number"),
        ({"rate": 1, "burst": 1.5}, "must be a whole number"),
        ({"rate": 1, "burst": True}, "must be a whole number"),
        ({"rate": 1, "burst": 10**7}, "must be a whole number"),
        ({"rate": 1, "burst": 1, "max_keys": 0}, "max_keys 0 must be at least 1"),
    ],
)
def test_throttle_rejects_bad_limits(kw: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Throttle(**kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "rate", "burst"),
    [
        ("10/s", 10.0, 10),
        ("600/min", 10.0, 10),
        ("1000/h", 1000 / 3600, 1),
        ("1/min", 1 / 60, 1),
        ("3/second", 3.0, 3),
        ("90/minute", 1.5, 2),
        ("7200/hour", 2.0, 2),
        ("10/s burst 20", 10.0, 20),
        (" 5 / min  burst  1 ", 5 / 60, 1),
        ("1000/h burst 100", 1000 / 3600, 100),
        ("1/s burst 1000000", 1.0, 1_000_000),  # the largest burst
    ],
)
def test_parse_rate(text: str, rate: float, burst: int) -> None:
    assert parse_rate(text) == (pytest.approx(rate), burst)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "must be COUNT/UNIT"),
        ("10", "must be COUNT/UNIT"),
        ("10/", "must be COUNT/UNIT"),
        ("ten/s", "must be COUNT/UNIT"),
        ("1.5/s", "must be COUNT/UNIT"),
        ("-1/s", "must be COUNT/UNIT"),
        ("10/s burst", "must be COUNT/UNIT"),
        ("10/sburst 20", "must be COUNT/UNIT"),
        ("10/S", "must be COUNT/UNIT"),
        ("١٠/s", "must be COUNT/UNIT"),  # non-ASCII digits
        ("10/d", "unknown unit 'd'; expected s, min or h"),
        ("0/s", "the count must be at least 1"),
        ("10/s burst 0", "burst must be from 1 to"),
        ("99999999/s", "burst must be from 1 to"),
        ("1/s burst 1000001", "burst must be from 1 to 1000000"),
        (10, "must be COUNT/UNIT"),
    ],
)
def test_parse_rate_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_rate(text)


def test_the_bounds_themselves_are_accepted(clock: Clock) -> None:
    assert Throttle(rate=1, burst=1_000_000, clock=clock).burst == 1_000_000
    one = Throttle(rate=1, burst=1, max_keys=1, clock=clock)
    assert one.take("a") == ThrottleResult(True, 0)  # allowed: nothing to wait for
    assert one.take("b") == ThrottleResult(True, 0)  # "a" was evicted to make room
    assert len(one) == 1
    with pytest.raises(ValueError, match="burst 1000001 must be a whole number from 1 to"):
        Throttle(rate=1, burst=1_000_001)
    with pytest.raises(ValueError, match="max_keys 0 must be at least 1"):
        Throttle(rate=1, burst=1, max_keys=0)
