"""The master's hook dispatch calls the same handlers, in the same order, as mitmproxy's."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from mitmproxy import exceptions, hooks, options
from mitmproxy.master import Master
from mitmproxy.proxy.layers.http import HttpRequestHeadersHook, HttpResponseHook
from mitmproxy.test import tflow

from proxy.engine import hookdispatch


class Recorder:
    def __init__(self, name: str, calls: list[str], fail: bool = False) -> None:
        self.name, self.calls, self.fail = name, calls, fail

    def requestheaders(self, flow: Any) -> None:
        self.calls.append(f"{self.name}.requestheaders")
        if self.fail:
            raise RuntimeError("boom")

    def response(self, flow: Any) -> None:
        self.calls.append(f"{self.name}.response")


class Waiter:
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    async def requestheaders(self, flow: Any) -> None:
        self.calls.append("waiter.requestheaders")


class Parent:
    """An addon with child addons, which mitmproxy dispatches to after the parent."""

    def __init__(self, calls: list[str]) -> None:
        self.calls = calls
        self.addons = [Recorder("child", calls)]

    def requestheaders(self, flow: Any) -> None:
        self.calls.append("parent.requestheaders")


class FailingParent:
    """A parent whose handler raises: mitmproxy then skips its children, not the next addon."""

    def __init__(self, calls: list[str]) -> None:
        self.calls = calls
        self.addons = [Recorder("orphan", calls)]

    def requestheaders(self, flow: Any) -> None:
        self.calls.append("failing-parent.requestheaders")
        raise RuntimeError("boom")


class Siblings:
    """A child that raises ends its parent's turn: the children after it are skipped too."""

    def __init__(self, calls: list[str]) -> None:
        self.addons = [Recorder("first", calls, fail=True), Recorder("second", calls)]


class NotCallable:
    """Attributes named like hooks that are no handlers: set, unset, and a module."""

    requestheaders = "not a handler"
    response = None

    def __init__(self, calls: list[str]) -> None:
        self.error = logging  # an imported module that happens to share a hook's name
        self.addons = [Recorder("behind-the-string", calls)]


class Halter:
    def requestheaders(self, flow: Any) -> None:
        raise exceptions.AddonHalt()


class Updates:
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def update(self, flows: Any) -> None:
        self.calls.append(f"update({len(flows)})")


def _master(*addons: Any) -> Master:
    master = Master(options.Options())
    master.addons.add(*addons)
    return master


async def _run(master: Master) -> None:
    flow = tflow.tflow(resp=True)
    await master.addons.handle_lifecycle(HttpRequestHeadersHook(flow))
    await master.addons.handle_lifecycle(HttpResponseHook(flow))


async def test_same_handlers_in_the_same_order_as_mitmproxy(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def addons(calls: list[str]) -> list[Any]:
        return [
            Recorder("a", calls),
            Waiter(calls),
            Recorder("b", calls, fail=True),
            Parent(calls),
            Updates(calls),
            Recorder("c", calls),
        ]

    theirs: list[str] = []
    with caplog.at_level(logging.CRITICAL):  # mitmproxy's own log of b's failure
        await _run(_master(*addons(theirs)))
    ours: list[str] = []
    master = _master(*addons(ours))
    hookdispatch.install(master)
    with caplog.at_level(logging.ERROR):
        await _run(master)
    assert ours == theirs
    assert ours == [
        "a.requestheaders",
        "waiter.requestheaders",
        "b.requestheaders",
        "parent.requestheaders",
        "child.requestheaders",
        "c.requestheaders",
        "update(1)",
        "a.response",
        "b.response",
        "child.response",
        "c.response",
        "update(1)",
    ]
    assert "addon Recorder failed on requestheaders" in caplog.text


async def test_addon_halt_ends_the_hook() -> None:
    calls: list[str] = []
    master = _master(Recorder("a", calls), Halter(), Recorder("b", calls))
    hookdispatch.install(master)
    await master.addons.handle_lifecycle(HttpRequestHeadersHook(tflow.tflow()))
    assert calls == ["a.requestheaders"]


async def test_an_addon_added_later_is_dispatched_to() -> None:
    calls: list[str] = []
    master = _master(Recorder("a", calls))
    dispatch = hookdispatch.install(master)
    flow = tflow.tflow()
    await master.addons.handle_lifecycle(HttpRequestHeadersHook(flow))
    master.addons.add(Recorder("late", calls))
    await master.addons.handle_lifecycle(HttpRequestHeadersHook(flow))
    assert calls == ["a.requestheaders", "a.requestheaders", "late.requestheaders"]
    assert dispatch.handlers(hooks.UpdateHook.name) == ()


async def _both(addons: Any, caplog: pytest.LogCaptureFixture) -> tuple[list[str], list[str]]:
    """The calls mitmproxy's dispatcher makes, then ours, for the chain `addons(calls)` builds."""
    theirs: list[str] = []
    with caplog.at_level(logging.ERROR):
        await _run(_master(*addons(theirs)))
    ours: list[str] = []
    master = _master(*addons(ours))
    hookdispatch.install(master)
    with caplog.at_level(logging.ERROR):
        await _run(master)
    return theirs, ours


async def test_an_exception_skips_the_addons_children_as_in_mitmproxy(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def addons(calls: list[str]) -> list[Any]:
        return [FailingParent(calls), Siblings(calls), Recorder("next", calls)]

    theirs, ours = await _both(addons, caplog)
    assert ours == theirs
    assert ours == [
        "failing-parent.requestheaders",
        "first.requestheaders",
        "next.requestheaders",
        "orphan.response",
        "first.response",
        "second.response",
        "next.response",
    ]


async def test_a_hook_attribute_that_is_not_callable_fails_as_in_mitmproxy(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def addons(calls: list[str]) -> list[Any]:
        return [NotCallable(calls), Recorder("next", calls)]

    theirs, ours = await _both(addons, caplog)
    assert ours == theirs
    # the string's turn fails, so its child is skipped; None and the module are no handlers
    assert ours == [
        "next.requestheaders",
        "behind-the-string.response",
        "next.response",
    ]
    failed = [
        r.name
        for r in caplog.records
        if r.exc_info and "Addon handler requestheaders (" in str(r.exc_info[1])
    ]
    assert failed == ["mitmproxy.addonmanager", "proxy.engine.hookdispatch"]
