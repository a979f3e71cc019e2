"""`optout evidence notice`: the figures of its bundle, the policy's label, rendered by Chromium."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_bundle_checkpoints import _signed

from proxy.config.policy import Policy
from proxy.config.reservation import Reservation
from proxy.model import Action, Verdict
from proxy.review import notice
from proxy.review.evidence import Request, build
from proxy.review.files import ReviewError, resolve
from tests.review.conftest import run_cli

POLICY = Policy(
    "Northern Lights Records",
    Reservation(contact="mailto:rights@label.example", tdm_policy="https://label.example/tdm.json"),
    (),
    Verdict(Action.ALLOW, "default"),
    address="Beispielstraße 1\n20095 Hamburg",
)


def _bundle(tmp_path: Path) -> Path:
    b, _ = _signed(tmp_path)
    out = tmp_path / "gptbot.zip"
    build(resolve([str(b.log)]), Request("GPTBot"), out, b.state)
    return out


def test_the_notice_carries_the_bundle_figures_and_the_label(tmp_path: Path) -> None:
    page = notice.build(_bundle(tmp_path), POLICY, datetime(2026, 12, 3, tzinfo=UTC))
    assert "Northern Lights Records" in page
    assert "Beispielstraße 1\n20095 Hamburg" in page
    assert "rights@label.example" in page
    assert "03 December 2026" in page
    assert "To the copyright contact of\n<strong>OpenAI</strong>" in page
    assert "Article 4(3) of Directive (EU) 2019/790" in page
    assert "Article 53(1)(c) of Regulation (EU) 2024/1689" in page
    assert "<tr><th>Requests</th><td>2: 2 allow</td></tr>" in page
    assert "20.171.206.7, 20.171.206.9" in page
    assert "made 2 request(s)." in page  # the verify statement, quoted
    assert "https://label.example/tdm.json" in page
    assert "optout evidence verify gptbot.zip" in page
    assert "(2 records, 2 checkpoints)" in page
    assert "$" not in page.replace("$label", "")  # every placeholder filled


def test_no_notice_for_a_bundle_that_does_not_verify(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    folder = tmp_path / "unpacked"
    shutil.unpack_archive(bundle, folder)
    records = folder / "records.jsonl"
    records.write_bytes(records.read_bytes().replace(b"/a", b"/z"))
    with pytest.raises(ReviewError, match="does not verify, no notice written"):
        notice.build(folder, POLICY)


def test_cli_writes_html_and_pdf_and_chromium_renders_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = _bundle(tmp_path)
    html, pdf, png = tmp_path / "notice.html", tmp_path / "notice.pdf", tmp_path / "notice.png"
    rules = Path(__file__).resolve().parents[2] / "rules"
    argv = ["evidence", "notice", str(bundle), "--out", str(html), "--pdf", str(pdf)]
    assert run_cli([*argv, "--rules", str(rules)]) == 0
    assert "Northern Lights Records GmbH" in html.read_text()
    assert pdf.read_bytes().startswith(b"%PDF-")
    shot = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--window-size=900,1900", f"--screenshot={png}", html.as_uri()],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert shot.returncode == 0
    assert png.read_bytes().startswith(b"\x89PNG")
    assert run_cli(["evidence", "notice", str(bundle)]) == 2
    assert "usage: optout evidence notice" in capsys.readouterr().err
