from __future__ import annotations

import re
import subprocess
from pathlib import Path

import loggen
import pytest
from loggen import LogBuilder, scenario
from paths import RULES

from tests.review.conftest import run_cli

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
    # Robots.txt broken twice; the four fetches the policy let in are a note, not violations.
    assert re.search(r'id="tile-violations"><div class="value">(\d+)', html)[1] == "2"  # type: ignore[index]
    assert "4 request(s) were served after the TDM reservation" in html


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
    assert tiles["violations"] == "2"
    assert tiles["spoofed-requests"] == "1"
    assert re.search(
        r"<td>GPTBot</td><td>OpenAI</td><td>ai-training</td><td class=\"n\">6</td>", dom
    )
    shot = tmp_path / "report.png"
    _chromium(f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri(), tmp=tmp_path)
    assert shot.stat().st_size > 10_000


def test_chain_verdict_opens_the_page(page: Path) -> None:
    html = page.read_text()
    first = html.index('id="integrity"')
    assert first < html.index('id="tile-requests"')
    assert 'class="integrity ok"' in html
    assert "Hash chain verified: records 1 to 14 (14 records) are intact." in html
    assert "chain head saved by the proxy (record 14)" in html


def test_changed_record_turns_the_verdict_red(built: LogBuilder, tmp_path: Path) -> None:
    lines = built.log.read_text().splitlines(keepends=True)
    lines[4] = lines[4].replace("/releases/", "/elsewhere/")
    built.log.write_text("".join(lines))
    out = tmp_path / "broken.html"
    argv = ["logs", "report", str(built.log), "--out", str(out), "--state", str(built.state)]
    assert run_cli([*argv, "--rules", str(RULES)]) == 0
    html = out.read_text()
    assert 'class="integrity bad"' in html
    assert re.search(r"Hash chain BROKEN at access\.jsonl:5", html)


def test_what_changed_compares_the_halves(page: Path) -> None:
    html = page.read_text()
    section = html[html.index('id="what-changed"') : html.index('id="paths"')]
    assert "Earlier half: 2026-11-02T09:00:00.000Z to 2026-11-02T10:00:30.000Z" in section
    assert re.search(r'id="new-agents">.*ClaudeBot \(2 requests\)', section)
    assert "GPTBot" not in section  # seen in both halves
    assert "Googlebot from 192.0.2.66 (1 request)" in section
    assert "Googlebot: 0 &rarr; 1 blocked" in section


PDFTOTEXT = Path("/usr/bin/pdftotext")


@pytest.mark.skipif(
    not (CHROMIUM.exists() and PDFTOTEXT.exists()),
    reason="Chromium and pdftotext (poppler-utils) are needed to print the report",
)
def test_prints_to_pdf_without_cutting_tables(
    built: LogBuilder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ua = "Mozilla/5.0 (compatible; WideBot/1.0; " + "+very_long_token_" * 14 + ")"
    monkeypatch.setitem(loggen.AGENTS, "WideBot", ("Wide", "ai-training", ua))
    built.request(121.5, "WideBot", "/x/1", identity="spoofed", ip="192.0.2.77")
    built.write()
    out = tmp_path / "wide.html"
    argv = ["logs", "report", str(built.log), "--out", str(out), "--state", str(built.state)]
    assert run_cli([*argv, "--rules", str(RULES)]) == 0
    pdf = tmp_path / "report.pdf"
    _chromium("--no-pdf-header-footer", f"--print-to-pdf={pdf}", out.as_uri(), tmp=tmp_path)
    printed = subprocess.run(
        [str(PDFTOTEXT), "-nopgbrk", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    flat = re.sub(r"\s+", "", printed)
    assert re.sub(r"\s+", "", ua) in flat  # the widest cell, wrapped rather than clipped
    assert "192.0.2.77" in flat
    for last_column in ("useragent", "evidence", "robots.txt"):
        assert last_column in flat
    assert flat.count("2026-11-02T11:01:30.000Z") >= 2  # the last column but one of the summary


def test_keyed_chain_is_verified_with_the_key_file(tmp_path: Path) -> None:
    key = b"k" * 32
    b = scenario(tmp_path / "log", key=key)
    key_file, out = tmp_path / "key", tmp_path / "keyed.html"
    key_file.write_bytes(key)
    argv = ["logs", "report", str(b.log), "--out", str(out), "--state", str(b.state)]
    assert run_cli([*argv, "--rules", str(RULES)]) == 0
    assert 'class="integrity warn"' in out.read_text()
    assert "Not verified" in out.read_text()
    assert run_cli([*argv, "--rules", str(RULES), "--key-file", str(key_file)]) == 0
    assert "Hash chain verified: records 1 to 14" in out.read_text()
