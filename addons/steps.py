"""Steps: run consecutive pipeline addons as one addon, for speed.

mitmproxy offers every hook of every flow to every addon, and that dispatch is
the largest single cost of a request through this proxy (profiles of the
benchmark: about a quarter of the CPU). The pipeline's own addons only use the
five HTTP flow hooks, so they are registered behind one addon that calls each
step's hook directly, in order. Each step is still its own class in its own
module, tested on its own; only the dispatch changes.

Like mitmproxy's own dispatcher, an exception in one step is logged and does not
stop the steps after it (the access log must still run), and a step whose hook
returns an awaitable (Verify, waiting for a DNS answer) is awaited before the
next step runs.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

log = logging.getLogger(__name__)

FLOW_HOOKS = ("requestheaders", "request", "responseheaders", "response", "error")
_Hook = Callable[[Any], Any]


class Steps:
    def __init__(self, steps: Sequence[Any]) -> None:
        self.steps = tuple(steps)
        self._hooks: dict[str, tuple[_Hook, ...]] = {
            name: tuple(getattr(s, name) for s in self.steps if hasattr(s, name))
            for name in FLOW_HOOKS
        }

    def requestheaders(self, flow: Any) -> Awaitable[None] | None:
        return _run(self._hooks["requestheaders"], flow)

    def request(self, flow: Any) -> Awaitable[None] | None:
        return _run(self._hooks["request"], flow)

    def responseheaders(self, flow: Any) -> Awaitable[None] | None:
        return _run(self._hooks["responseheaders"], flow)

    def response(self, flow: Any) -> Awaitable[None] | None:
        return _run(self._hooks["response"], flow)

    def error(self, flow: Any) -> Awaitable[None] | None:
        return _run(self._hooks["error"], flow)


def mergeable(addon: Any) -> bool:
    """Whether an addon uses nothing but the flow hooks (so Steps can run it)."""
    public = {name for name in dir(type(addon)) if not name.startswith("_")}
    methods = {name for name in public if callable(getattr(addon, name))}
    return bool(methods) and methods <= set(FLOW_HOOKS)


def group(addons: Sequence[Any]) -> list[Any]:
    """The addons in order, runs of consecutive mergeable ones behind one Steps."""
    grouped: list[Any] = []
    run: list[Any] = []
    for addon in addons:
        if mergeable(addon):
            run.append(addon)
            continue
        if run:
            grouped.append(Steps(run))
            run = []
        grouped.append(addon)
    if run:
        grouped.append(Steps(run))
    return grouped


def _run(hooks: tuple[_Hook, ...], flow: Any) -> Awaitable[None] | None:
    for index, hook in enumerate(hooks):
        result = _call(hook, flow)
        if result is not None and inspect.isawaitable(result):
            return _finish(hooks[index + 1 :], result, flow)
    return None


async def _finish(rest: tuple[_Hook, ...], pending: Awaitable[Any], flow: Any) -> None:
    try:
        await pending
    except Exception:
        log.exception("an optout addon failed")
    for hook in rest:
        result = _call(hook, flow)
        if result is not None and inspect.isawaitable(result):
            try:
                await result
            except Exception:
                log.exception("an optout addon failed")


def _call(hook: _Hook, flow: Any) -> Any:
    try:
        return hook(flow)
    except Exception:
        log.exception("optout addon %s failed", getattr(hook, "__qualname__", hook))
        return None
