"""Limits on request heads, and error pages that name neither the engine nor the upstream."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from proxy.engine import patches as enginepatch
from proxy.engine.patches import MAX_HEAD, MAX_REQUEST_LINE, error_response, oversize_status
from proxy.engine.patches.state import PatchState

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", None),
        (b"GET / HTTP/1.1\r\nHost: a\r\n", None),  # incomplete but small
        (b"GET /" + b"a" * MAX_REQUEST_LINE + b" HTTP/1.1\r\n\r\n", 414),
        (b"GET /" + b"a" * (MAX_REQUEST_LINE + 10), 414),  # no line end yet
        (b"GET / HTTP/1.1\r\nX: " + b"a" * MAX_HEAD + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 3000, 431),  # still coming
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 8000 + b"\r\n\r\n" + b"b" * 100_000, None),  # body
        (b"GET / HTTP/1.1\nX: " + b"a" * (MAX_HEAD + 1) + b"\n\n", 431),
    ],
)
def test_oversize_status(head: bytes, status: int | None) -> None:
    assert oversize_status(head) == status


def test_error_pages_name_neither_engine_nor_upstream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(enginepatch.STATE, "extra_headers", lambda: [("tdm-reservation", "1")])
    raw = error_response(502, "[Errno 111] Connect call failed ('10.0.0.5', 8080)")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
    assert b"tdm-reservation: 1" in head
    assert b"mitmproxy" not in raw.lower()
    assert b"10.0.0.5" not in raw
    assert b"Errno" not in raw
    assert b"temporarily unavailable" in body


def test_messages_are_built_without_a_type_check_per_field() -> None:
    """A sixth of a blocked request's CPU went to checking each field's type (issue 9).

    In a child process: the patches are for the whole engine, and the other
    tests here should keep mitmproxy's own checks.
    """
    script = """
from mitmproxy.test import tutils
from mitmproxy.utils import typecheck
from proxy.engine import patches as enginepatch

def checked(*args):
    raise AssertionError("a message field was type-checked")

tutils.treq()  # checked before the patch
enginepatch.apply()
typecheck.check_option_type = checked
assert tutils.treq().method == "GET"
assert tutils.tresp().status_code == 200
"""
    before = subprocess.run(
        [sys.executable, "-c", script.replace("enginepatch.apply()", "")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert "a message field was type-checked" in before.stderr
    after = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert after.returncode == 0, after.stderr


def test_a_failure_to_record_a_refused_head_does_not_stop_the_answer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(peer: object, status: int, head: bytes) -> None:
        raise OSError("disk full")

    PatchState(refused=broken).report_refusal(("203.0.113.9", 4711), 431, b"GET / HTTP/1.1\r\n")
    assert "recording a refused request head failed" in caplog.text
