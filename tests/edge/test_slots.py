"""proxy.edge.slots: who keeps a connection slot, and when a slow head loses it."""

from __future__ import annotations

import pytest

from proxy.edge.slots import Slots


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def slots(limit: int = 3) -> tuple[Slots, Clock]:
    clock = Clock()
    return Slots(limit, head_timeout=30, idle_timeout=75, clock=clock), clock


def test_below_the_limit_everyone_is_admitted() -> None:
    s, _ = slots()
    assert [s.opened(k) for k in "abc"] == [(True, None)] * 3
    assert s.open == 3


def test_a_newcomer_takes_the_slot_of_the_oldest_connection_still_waiting() -> None:
    s, clock = slots()
    for key in "abc":
        s.opened(key)
        clock.now += 1
    clock.now += 1
    s.head_received("a")  # a real client: its whole head came at once
    assert s.opened("d") == (True, "b")
    assert s.opened("e") == (True, "c")
    assert s.open == 3


def test_when_every_connection_is_busy_the_newcomer_is_refused() -> None:
    s, _ = slots(2)
    for key in "ab":
        s.opened(key)
        s.head_received(key)
    assert s.opened("c") == (False, None)
    s.closed("a")
    assert s.opened("c") == (True, None)


def test_an_attacker_cannot_crowd_out_clients_that_send_whole_heads() -> None:
    s, clock = slots(100)
    served = 0
    for i in range(5000):
        clock.now += 0.02
        s.opened(f"slow{i}")  # never sends its head
        if i % 50 == 0:
            admitted, _ = s.opened(f"client{i}")
            s.head_received(f"client{i}")
            s.answered(f"client{i}")
            s.closed(f"client{i}")
            served += admitted
    assert served == 100
    assert s.open == 100


def test_a_head_not_complete_in_time_expires() -> None:
    s, clock = slots()
    s.opened("a")
    clock.now += 10
    s.opened("b")
    clock.now += 20
    assert s.expired() == (["a"], [])
    clock.now += 10
    assert s.expired() == (["b"], [])
    assert s.open == 0


def test_a_kept_alive_connection_waits_the_idle_timeout_for_its_next_request() -> None:
    s, clock = slots()
    s.opened("a")
    s.head_received("a")
    clock.now += 100  # a slow upstream: a busy connection never expires
    assert s.expired() == ([], [])
    s.answered("a")
    clock.now += 74
    assert s.expired() == ([], [])
    s.head_received("a")  # the next request came in time
    s.answered("a")
    clock.now += 76
    assert s.expired() == ([], ["a"])


def test_an_idle_kept_alive_connection_is_evicted_before_a_younger_slow_head() -> None:
    s, clock = slots(2)
    s.opened("idle")
    s.head_received("idle")
    s.answered("idle")
    clock.now += 1
    s.opened("slow")
    clock.now += 1
    assert s.opened("new") == (True, "idle")


def test_a_connection_younger_than_a_second_keeps_its_slot_and_the_newcomer_is_refused() -> None:
    s, clock = slots(2)
    s.opened("client")  # its head is on its way
    clock.now += 0.5
    s.opened("flood1")
    clock.now += 0.1
    assert s.opened("flood2") == (False, None)
    clock.now += 0.5
    assert s.opened("flood3") == (True, "client")


def test_closing_forgets_in_every_state() -> None:
    s, _ = slots()
    for key in "abc":
        s.opened(key)
    s.head_received("b")
    s.head_received("c")
    s.answered("c")
    for key in "abc":
        s.closed(key)
    s.closed("never-seen")
    assert s.open == 0


@pytest.mark.parametrize(("limit", "head", "idle"), [(0, 30, 75), (1, 0, 75), (1, 30, 0)])
def test_bad_settings_are_refused(limit: int, head: float, idle: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        Slots(limit, head, idle, Clock())
