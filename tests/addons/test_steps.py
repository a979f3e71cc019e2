"""Steps runs the pipeline's addons in order, awaits what must be awaited, and isolates faults."""

from __future__ import annotations

import inspect
import logging

import pytest

from addons.steps import Steps, group, mergeable


class Recorder:
    def __init__(self, name: str, calls: list[str], fail: bool = False) -> None:
        self.name, self.calls, self.fail = name, calls, fail

    def requestheaders(self, flow: object) -> None:
        self.calls.append(self.name)
        if self.fail:
            raise RuntimeError("boom")


class Waiter:
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def requestheaders(self, flow: object) -> object:
        async def later() -> None:
            self.calls.append("waited")

        return later()


class WithOptions:
    def load(self, loader: object) -> None: ...

    def requestheaders(self, flow: object) -> None: ...


def test_steps_run_in_order_and_a_failure_does_not_stop_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []
    steps = Steps([Recorder("a", calls), Recorder("b", calls, fail=True), Recorder("c", calls)])
    with caplog.at_level(logging.ERROR):
        assert steps.requestheaders(object()) is None
    assert calls == ["a", "b", "c"]
    assert "failed" in caplog.text


async def test_an_awaitable_step_is_awaited_before_the_next() -> None:
    calls: list[str] = []
    steps = Steps([Recorder("a", calls), Waiter(calls), Recorder("c", calls)])
    pending = steps.requestheaders(object())
    assert calls == ["a"]
    assert pending is not None
    assert inspect.isawaitable(pending)
    await pending
    assert calls == ["a", "waited", "c"]


def test_only_flow_hook_addons_are_grouped() -> None:
    calls: list[str] = []
    a, b, odd, c = Recorder("a", calls), Recorder("b", calls), WithOptions(), Recorder("c", calls)
    assert mergeable(a)
    assert not mergeable(odd)
    grouped = group([a, b, odd, c])
    assert [type(g).__name__ for g in grouped] == ["Steps", "WithOptions", "Steps"]
    assert grouped[0].steps == (a, b)
