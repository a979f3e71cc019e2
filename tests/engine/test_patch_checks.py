"""The engine patches refuse to start on a mitmproxy they were not checked against.

Before this check, three of the eight patches would have gone silently inert
after an upgrade that moved their target: the two that assign a module global
(`_http1.make_error_response`, `format_error`), and the message type check
skipped only `if "__post_init__" in vars(MessageData)`. Each case below takes
one target away, or one of its callers, the way an upgrade would, and start-up
must fail naming it; nothing may be patched when it does.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mitmproxy import version

from proxy.engine import patches as enginepatch
from proxy.engine.patches.checks import EngineError, Patch, PatchTargetError, Target
from proxy.engine.patches.state import PatchState

ROOT = Path(__file__).resolve().parents[2]


def _stand_in(*args: Any, **kwargs: Any) -> None:
    """A caller as an upgrade might leave it: it no longer calls the target."""


def _targets() -> Iterator[tuple[Patch, Target]]:
    for patch in enginepatch.patches():
        for target in (patch.target, *patch.also):
            yield patch, target


def _cases() -> Iterator[Any]:
    for patch, target in _targets():
        yield pytest.param(patch, target, None, "does not exist", id=f"{target.name}-gone")
        for owner, name in target.used_by:
            caller = f"{owner.__name__}.{name}"
            yield pytest.param(
                patch, target, (owner, name), "no longer uses", id=f"{target.name}-unused-{caller}"
            )
            if inspect.ismodule(target.owner):
                yield pytest.param(
                    patch, target, (owner, name), "other than", id=f"{target.name}-moved-{caller}"
                )


def _originals() -> dict[tuple[int, str], Any]:
    return {(id(t.owner), t.name): vars(t.owner).get(t.name) for _, t in _targets()}


@pytest.fixture
def state(monkeypatch: pytest.MonkeyPatch) -> PatchState:
    """A fresh state, so that apply() runs its checks even if this process was patched."""
    fresh = PatchState()
    monkeypatch.setattr(enginepatch, "STATE", fresh)
    return fresh


def test_every_patch_fits_the_pinned_mitmproxy() -> None:
    assert version.VERSION == enginepatch.REQUIRED_MITMPROXY
    chosen = enginepatch.patches()
    assert len(chosen) == 18
    assert {p.name: p.problems() for p in chosen} == {p.name: [] for p in chosen}


@pytest.mark.parametrize(("patch", "target", "caller", "says"), list(_cases()))
def test_a_target_gone_or_unused_stops_start_up(
    monkeypatch: pytest.MonkeyPatch,
    state: PatchState,
    patch: Patch,
    target: Target,
    caller: tuple[Any, str] | None,
    says: str,
) -> None:
    if caller is None:
        monkeypatch.delattr(target.owner, target.name)
    elif says == "no longer uses":
        monkeypatch.setattr(*caller, _stand_in)
    else:  # the caller now finds the name somewhere else (imported from another module)
        code = inspect.unwrap(vars(caller[0])[caller[1]])
        elsewhere = {**code.__globals__, target.name: _stand_in}
        monkeypatch.setattr(*caller, types.FunctionType(code.__code__, elsewhere))
    before = _originals()
    with pytest.raises(PatchTargetError) as raised:
        enginepatch.apply()
    message = str(raised.value)
    assert f"mitmproxy {version.VERSION}" in message
    assert f"{patch.name}: " in message
    assert says in message
    assert f".{target.name}" in message
    assert _originals() == before  # nothing was patched
    assert not state.applied


def test_another_mitmproxy_release_is_refused(
    monkeypatch: pytest.MonkeyPatch, state: PatchState
) -> None:
    monkeypatch.setattr(version, "VERSION", "12.4.0")
    before = _originals()
    with pytest.raises(EngineError, match=r"mitmproxy 12\.4\.0 is installed.*mitmproxy 12\.3\.1"):
        enginepatch.apply()
    assert _originals() == before
    assert not state.applied


def test_optout_run_on_another_mitmproxy_says_so_and_exits_1(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from mitmproxy import version\n"
        "version.VERSION = '13.0.0'\n"
        "from proxy.cli.main import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    argv = ["run", "--upstream", "http://127.0.0.1:9", "--listen", "127.0.0.1:0"]
    argv += ["--state", str(tmp_path / "state"), "--log", str(tmp_path / "access.jsonl")]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "OPTOUT_ADMIN": "off"}
    done = subprocess.run(
        [sys.executable, "-c", script, *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert "optout: mitmproxy 13.0.0 is installed" in done.stderr
    assert "checked against mitmproxy 12.3.1 only" in done.stderr
    assert "Traceback" not in done.stderr
