"""The core never imports the engine (mitmproxy) or network I/O (aiohttp).

Only the adapters may: the runner, its engine patches and hook dispatch, the demo
site and the network adapters in `proxy/net/`. ruff's banned-api rule says the same
at lint time; this test also catches a lazy import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "proxy"
ADAPTERS = {
    PACKAGE / "runner.py",
    PACKAGE / "enginepatch.py",
    PACKAGE / "hookdispatch.py",
    *PACKAGE.glob("demo/**/*.py"),
    *PACKAGE.glob("net/**/*.py"),
}
CORE = sorted(p for p in PACKAGE.rglob("*.py") if p not in ADAPTERS)


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_core_module_imports_no_engine(path: Path) -> None:
    assert not _imports(path) & {"mitmproxy", "aiohttp", "addons"}


def test_the_check_sees_the_adapters() -> None:
    assert "mitmproxy" in _imports(PACKAGE / "runner.py")
    assert len(CORE) > 10
