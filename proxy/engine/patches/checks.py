"""How a patch proves, before it is installed, that its target exists and is used.

Replacing a name the engine no longer calls does nothing, silently: a module
global that nothing reads, a method that an upgrade stopped calling, or a
function that its caller now imports from somewhere else. So each patch names
what it replaces and the engine functions that must call it, and start-up
fails, naming every mismatch, when any of that is no longer so.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from types import CodeType, FunctionType
from typing import Any

from proxy.engine.patches.state import PatchState
from proxy.errors import SettingsError


class EngineError(SettingsError):
    """The installed mitmproxy is not the one the patches were checked against.

    A SettingsError, so `optout run` reports it in one line and exits 1, as it
    does for any other setup problem.
    """


class PatchTargetError(EngineError):
    """A patch's target is missing from the engine, or the engine no longer uses it."""


def code_names(code: CodeType) -> set[str]:
    """Every global and attribute name a function's code refers to, nested code included."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, CodeType):
            names |= code_names(const)
    return names


def _function(value: Any) -> FunctionType | None:
    """The plain function behind a method, a decorator (functools.wraps) or one of our patches."""
    value = inspect.unwrap(getattr(value, "__func__", value))
    return value if isinstance(value, FunctionType) else None


def _where(owner: Any, name: str) -> str:
    return f"{getattr(owner, '__qualname__', owner.__name__)}.{name}"


@dataclass(frozen=True)
class Target:
    """`owner.name` (owner: a module or a class, where the name is defined), and its callers.

    Each `(owner, function)` in `used_by` must refer to the name; for a module
    global, it must also look the name up in that module, so that replacing
    the module's global reaches the call.
    """

    owner: Any
    name: str
    used_by: tuple[tuple[Any, str], ...]

    def problems(self) -> list[str]:
        where = _where(self.owner, self.name)
        current = vars(self.owner).get(self.name)
        if current is None:
            return [f"{where} does not exist"]
        found = []
        for owner, name in self.used_by:
            caller, at = _function(vars(owner).get(name)), _where(owner, name)
            if caller is None:
                found.append(f"{at} (which called {where}) does not exist")
            elif self.name not in code_names(caller.__code__):
                found.append(f"{at} no longer uses {where}")
            elif inspect.ismodule(self.owner) and caller.__globals__.get(self.name) is not current:
                found.append(f"{at} calls a {self.name} other than {where}")
        return found


# Given what it replaces and the state, a patch returns the replacement.
Wrap = Callable[[Any, PatchState], Any]


@dataclass(frozen=True)
class Patch:
    """One change to the engine: `target` is replaced by `wrap(original, state)`.

    `also` names the engine code the replacement relies on without replacing
    it; `needed` is False where the engine does not have the problem (python -O).
    """

    name: str
    target: Target
    wrap: Wrap
    also: tuple[Target, ...] = ()
    needed: bool = True

    def problems(self) -> list[str]:
        return [p for target in (self.target, *self.also) for p in target.problems()]

    def install(self, state: PatchState) -> None:
        owner, name = self.target.owner, self.target.name
        setattr(owner, name, self.wrap(vars(owner)[name], state))
