"""The import contract covers the whole package, and holds.

`make lint` runs import-linter; these tests make sure no module escapes the
contract (a new package must be given a layer) and that it is really enforced.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from paths import ROOT

CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def _layered() -> set[str]:
    (layers,) = (c["layers"] for c in CONFIG["contracts"] if c["type"] == "layers")
    return {name.strip() for layer in layers for name in layer.replace(":", "|").split("|")}


def test_every_module_of_the_package_has_a_layer() -> None:
    top = {
        f"proxy.{p.stem if p.suffix == '.py' else p.name}"
        for p in (ROOT / "proxy").iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()
    }
    assert top - _layered() == set()
    assert _layered() - top == {"addons"}


def test_the_core_has_no_engine_import_even_lazily() -> None:
    (forbidden,) = (
        c
        for c in CONFIG["contracts"]
        if "aiohttp" in c.get("forbidden_modules", ()) and "addons" in c["forbidden_modules"]
    )
    engine = {"proxy.__main__", "proxy.cli", "proxy.engine", "proxy.demo", "proxy.net"}
    assert set(forbidden["source_modules"]) == _layered() - engine - {"addons"}


@pytest.mark.skipif(
    shutil.which("lint-imports", path=str(Path(sys.executable).parent)) is None,
    reason="import-linter is not installed",
)
def test_an_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    copy = tmp_path / "tree"
    shutil.copytree(ROOT / "proxy", copy / "proxy")
    shutil.copytree(ROOT / "addons", copy / "addons")
    shutil.copy(ROOT / "pyproject.toml", copy)
    policy = copy / "proxy" / "config" / "policy.py"
    policy.write_text(policy.read_text() + "\nfrom proxy.decision import decide  # noqa\n")
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint), "--no-cache"],
        cwd=copy,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1
    assert "proxy.config.policy -> proxy.decision.decide" in result.stdout
