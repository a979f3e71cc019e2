"""Hook dispatch for the embedded master: each hook goes straight to the addons that handle it.

mitmproxy's AddonManager offers every hook of every flow to every addon: per addon
it walks the addon's children, looks the hook up by name, enters a context manager
and awaits a coroutine, and then it does all of that again for an `update` hook
that nothing here handles. Profiles of a blocked request put this at a third of the
proxy's CPU. The dispatcher below finds, once per hook name, the handlers in chain
order (again if the chain changes) and calls them directly.

What mitmproxy promises addons is kept (AddonManager.trigger_event and _iter_hooks):
handlers run in chain order, each addon before its children; an awaitable result
is awaited before the next handler runs; an exception is logged and ends that
addon's turn, so its children are skipped, but not the addons after it; a hook
attribute that is set but not callable (other than a module) fails in the same
way, at its place; AddonHalt ends the hook; `update` is sent for a flow when some
addon handles it.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import types
from collections.abc import Callable
from typing import Any

from mitmproxy import exceptions, flow, hooks
from mitmproxy.addonmanager import AddonManager, traverse
from mitmproxy.master import Master

log = logging.getLogger(__name__)
_Handler = Callable[..., Any]


class HookDispatch:
    def __init__(self, manager: AddonManager) -> None:
        self.manager = manager
        self._groups: dict[str, tuple[tuple[_Handler, ...], ...]] = {}
        self._chain: tuple[int, int] = (0, 0)  # identity and length of the chain they came from
        self._fields: dict[type[hooks.Hook], tuple[str, ...]] = {}

    def groups(self, name: str) -> tuple[tuple[_Handler, ...], ...]:
        """Per addon in the chain that handles hook `name`: its handlers and its children's."""
        chain = (id(self.manager.chain), len(self.manager.chain))
        if chain != self._chain:
            self._groups.clear()
            self._chain = chain
        found = self._groups.get(name)
        if found is None:
            found = tuple(g for g in (_group(a, name) for a in self.manager.chain) if g)
            self._groups[name] = found
        return found

    def handlers(self, name: str) -> tuple[_Handler, ...]:
        """The callables of every addon (and child addon) that handle hook `name`, in order."""
        return tuple(handler for group in self.groups(name) for handler in group)

    async def handle_lifecycle(self, event: hooks.Hook) -> None:
        """AddonManager.handle_lifecycle: the hook, then `update` for its flow."""
        args = self._args(event)
        for group in self.groups(event.name):
            try:
                for handler in group:
                    result = handler(*args)
                    if result is not None and inspect.isawaitable(result):
                        await result
            except exceptions.AddonHalt:
                break
            except exceptions.OptionsError:
                raise
            except Exception:
                log.exception("addon %s failed on %s", _owner(handler), event.name)
        if args and isinstance(args[0], flow.Flow) and self.groups(hooks.UpdateHook.name):
            await self.manager.trigger_event(hooks.UpdateHook([args[0]]))

    def _args(self, event: hooks.Hook) -> list[Any]:
        kind = type(event)
        names = self._fields.get(kind)
        if names is None:
            names = self._fields[kind] = tuple(f.name for f in dataclasses.fields(event))  # type: ignore[arg-type]
        return [getattr(event, name) for name in names]


def install(master: Master) -> HookDispatch:
    """Route the master's connection hooks through a HookDispatch (lifecycle hooks unchanged)."""
    dispatch = HookDispatch(master.addons)
    master.addons.handle_lifecycle = dispatch.handle_lifecycle  # type: ignore[method-assign]
    return dispatch


def _group(addon: Any, name: str) -> tuple[_Handler, ...]:
    """The handlers of `addon` and its children for hook `name`, as mitmproxy finds them."""
    found: list[_Handler] = []
    for a in traverse([addon]):
        attr = getattr(a, name, None)
        # mitmproxy skips unset attributes, and modules imported under a hook's name.
        if not attr or isinstance(attr, types.ModuleType):
            continue
        found.append(attr if callable(attr) else _NotCallable(name, a))
    return tuple(found)


class _NotCallable:
    """Stands in for a hook attribute that is not callable: it fails when its turn comes."""

    def __init__(self, name: str, addon: Any) -> None:
        self.name, self.__self__ = name, addon

    def __call__(self, *args: Any) -> None:
        # mitmproxy's own message (AddonManager._iter_hooks).
        raise exceptions.AddonManagerError(
            f"Addon handler {self.name} ({self.__self__}) not callable"
        )


def _owner(handler: _Handler) -> str:
    owner = getattr(handler, "__self__", None)
    return type(owner).__name__ if owner is not None else getattr(handler, "__qualname__", "?")
