"""The trap's memory: flags expire, stay bounded, and robots.txt evidence is kept per address."""

from __future__ import annotations

from proxy.decision.trap import (
    TRAP,
    FlagStore,
    RobotsSeen,
    Served,
    address_key,
    ja4_key,
    trap_fields,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_flag_holds_for_its_ttl_then_expires() -> None:
    clock = Clock()
    store = FlagStore(clock=clock)
    store.flag([address_key("192.0.2.1"), ja4_key("t13d_x_y")], TRAP, 60)
    assert store.flags([address_key("192.0.2.1")]) == {TRAP}
    assert store.flags([address_key("192.0.2.9"), ja4_key("t13d_x_y")]) == {TRAP}
    assert store.flags([address_key("192.0.2.9")]) == set()
    clock.now += 61
    assert store.flags([address_key("192.0.2.1")]) == set()
    assert len(store) == 1  # the expired address entry is dropped when met


def test_flagging_again_extends() -> None:
    clock = Clock()
    store = FlagStore(clock=clock)
    store.flag(["ip:a"], TRAP, 60)
    clock.now += 50
    store.flag(["ip:a"], TRAP, 60)
    clock.now += 50
    assert store.flags(["ip:a"]) == {TRAP}


def test_bounded_oldest_goes_first() -> None:
    store = FlagStore(limit=3)
    for i in range(5):
        store.flag([f"ip:{i}"], TRAP, 60)
    assert len(store) == 3
    assert store.flags(["ip:0"]) == set()
    assert store.flags(["ip:4"]) == {TRAP}


def test_robots_seen_keeps_the_last_and_is_bounded() -> None:
    seen = RobotsSeen(limit=2)
    seen.saw("a", Served("1" * 64, "t1"))
    seen.saw("a", Served("2" * 64, "t2"))
    seen.saw("b", Served("3" * 64, "t3"))
    seen.saw("c", Served("4" * 64, "t4"))
    assert seen.last("a") is None
    assert seen.last("c") == Served("4" * 64, "t4")


def test_trap_fields() -> None:
    assert trap_fields(None) == {"trap": "hit"}
    assert trap_fields(Served("ab", "t")) == {
        "trap": "hit",
        "trap_robots": {"sha256": "ab", "served_at": "t"},
    }
