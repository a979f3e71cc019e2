"""proxy.store.shared: the --store setting, shared names, and the in-memory state."""

from __future__ import annotations

from decimal import Decimal

import pytest

from proxy.errors import SettingsError
from proxy.prices import Price
from proxy.settings import resolve
from proxy.store.shared import (
    MemoryState,
    bucket_name,
    charge_units,
    parse_store,
    redact,
    units_to_amount,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("memory", None),
        (" MEMORY ", None),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://redis", "redis://redis"),
        ("rediss://:secret@cache.internal:6380/2", "rediss://:secret@cache.internal:6380/2"),
        ("redis://[::1]:6379", "redis://[::1]:6379"),
        ("unix:///run/redis/redis.sock", "unix:///run/redis/redis.sock"),
        ("unix:///run/redis.sock?db=3", "unix:///run/redis.sock?db=3"),
    ],
)
def test_store_urls_accepted(text: str, expected: str | None) -> None:
    assert parse_store(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "must be 'memory' or a redis://"),
        ("http://cache:6379", "must be 'memory' or a redis://"),
        ("redis:///0", "names no host"),
        ("redis://cache:99999", "invalid port"),
        ("redis://cache:0", "invalid port"),
        ("redis://cache:6379/zero", "the database must be a number"),
        ("unix://", "unix:///PATH"),
        ("unix://host/run/redis.sock", "unix:///PATH"),
    ],
)
def test_bad_store_urls_are_refused_by_name(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_store(text)


def test_a_password_never_appears_in_an_error() -> None:
    with pytest.raises(ValueError, match=r"\*\*\*") as caught:
        parse_store("redis://user:hunter2@cache:6379/db")
    assert "hunter2" not in str(caught.value)
    assert redact("rediss://:hunter2@cache:6380/1") == "rediss://:***@cache:6380/1"
    assert redact("redis://cache:6379") == "redis://cache:6379"


def test_the_setting_names_flag_and_variable(tmp_path: object) -> None:
    env = {"OPTOUT_UPSTREAM": "http://127.0.0.1:8000", "OPTOUT_STORE": "redis://c:6379/1"}
    settings = resolve({}, env)
    assert settings.store == "redis://c:6379/1"
    assert settings.store_timeout == 0.05
    assert resolve({}, {"OPTOUT_UPSTREAM": "http://127.0.0.1:8000"}).store is None
    with pytest.raises(SettingsError, match="--store / OPTOUT_STORE"):
        resolve({}, {**env, "OPTOUT_STORE": "memcached://c"})
    with pytest.raises(SettingsError, match="--store-timeout / OPTOUT_STORE_TIMEOUT"):
        resolve({}, {**env, "OPTOUT_STORE_TIMEOUT": "-1"})


def test_bucket_names_keep_their_parts_apart() -> None:
    # An agent name with the separator of a naive join must not meet another bucket.
    a = bucket_name("r", (1.0, 2), ("a:b", "1.2.3.4"))
    b = bucket_name("r", (1.0, 2), ("a", "b:1.2.3.4"))
    assert a != b
    assert bucket_name("r", (1.0, 2), "x") != bucket_name("r", (1.0, 3), "x")
    assert bucket_name('r"', (1.0, 2), "x").isascii()


def test_charge_amounts_are_counted_exactly() -> None:
    price = Price("EUR", Decimal("0.000001"))
    assert charge_units(price) == 1
    total = sum(charge_units(Price("USD", Decimal("0.1"))) for _ in range(10))
    assert units_to_amount(total) == Decimal("1")  # 0.1 × 10 in floats is not 1


async def test_memory_state_is_todays_throttle_and_flags() -> None:
    now = [100.0]
    state = MemoryState(clock=lambda: now[0])
    taken = [await state.take("b", 1.0, 2) for _ in range(3)]
    assert [t.allowed for t in taken] == [True, True, False]
    assert taken[2].retry_after == 1
    now[0] += 1.0
    assert (await state.take("b", 1.0, 2)).allowed
    await state.flag(["ip:1.2.3.4"], "trap", 10)
    assert await state.flags(["ip:9.9.9.9", "ip:1.2.3.4"], ["trap"]) == {"trap"}
    now[0] += 10.0
    assert await state.flags(["ip:1.2.3.4"], ["trap"]) == frozenset()
    await state.put_verdict("k", "v", 5)
    assert await state.get_verdict("k") == "v"
    now[0] += 5.0
    assert await state.get_verdict("k") is None
    await state.count_charge("r", "Agent", Price("USD", Decimal("0.01")))
    await state.count_charge("r", "Agent", Price("USD", Decimal("0.01")))
    assert state.charges == {("r", "Agent", "USD"): (2, 20_000)}
    await state.close()
