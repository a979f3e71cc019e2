from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from conftest import run_cli
from loggen import LogBuilder
from paths import RULES

CHROMIUM = Path("/usr/bin/chromium")
_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--no-first-run", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture
def page(built: LogBuilder, tmp_path: Path) -> Path:
    out = tmp_path / "report.html"
    argv = ["logs", "report", str(built.log), "--out", str(out), "--state", str(built.state)]
    assert run_cli([*argv, "--rules", str(RULES)]) == 0
    return out


def test_page_is_self_contained(page: Path) -> None:
    html = page.read_text()
    assert not re.search(r"""(src|href|url)\s*[=(]\s*["']?\s*(https?:)?//""", html, re.I)
    assert "<script" not in html.lower()
    assert "@import" not in html
    assert html.count("<svg") == 3
    for section in ("over-time", "blocked-allowed", "paths", "spoofed-attempts", "violation-list"):
        assert f'id="{section}"' in html
    assert "192.0.2.66" in html  # the spoofed Googlebot
    assert "6" in re.search(r'id="tile-violations"><div class="value">(\d+)', html)[1]  # type: ignore[index]


def _chromium(*args: str, tmp: Path) -> str:
    result = subprocess.run(
        [str(CHROMIUM), *_FLAGS, f"--user-data-dir={tmp / 'profile'}", *args],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return result.stdout


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed (/usr/bin/chromium)")
def test_renders_in_headless_chromium(page: Path, tmp_path: Path) -> None:
    dom = _chromium("--dump-dom", page.as_uri(), tmp=tmp_path)
    assert dom.count("<svg") == 3
    assert dom.count("<rect") > 10
    tiles = dict(re.findall(r'id="tile-([a-z-]+)"><div class="value">([^<]+)<', dom))
    assert tiles["requests"] == "14"
    assert tiles["blocked"] == "2"
    assert tiles["violations"] == "6"
    assert tiles["spoofed-requests"] == "1"
    assert re.search(
        r"<td>GPTBot</td><td>OpenAI</td><td>ai-training</td><td class=\"n\">6</td>", dom
    )
    shot = tmp_path / "report.png"
    _chromium(f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri(), tmp=tmp_path)
    assert shot.stat().st_size > 10_000
