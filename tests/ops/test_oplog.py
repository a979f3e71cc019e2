"""The proxy's own messages: text or JSON lines on stderr, mitmproxy's chatter kept down."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from proxy.ops import oplog


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in oplog.QUIET_LOGGERS}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


@pytest.mark.usefixtures("restore_logging")
def test_json_lines_from_the_level_up() -> None:
    out = io.StringIO()
    oplog.configure("json", "info", out)
    logging.getLogger("proxy.engine.reloader").debug("not shown")
    logging.getLogger("proxy.engine.reloader").info("rules reloaded (%s)", "signal")
    logging.getLogger("mitmproxy.proxy.server").info("client connect")  # chatter
    logging.getLogger("mitmproxy.proxy.server").warning("engine trouble")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("proxy.engine.runner").exception("failed")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(e["log.level"], e["log.logger"], e["message"]) for e in lines] == [
        ("info", "proxy.engine.reloader", "rules reloaded (signal)"),
        ("warning", "mitmproxy.proxy.server", "engine trouble"),
        ("error", "proxy.engine.runner", "failed"),
    ]
    assert lines[0]["@timestamp"].endswith("Z")
    assert "ValueError: boom" in lines[2]["error.stack_trace"]


@pytest.mark.usefixtures("restore_logging")
def test_text_and_reconfiguring_replaces_the_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    oplog.configure("text", "debug", first)
    oplog.configure("text", "warning", second)
    logging.getLogger("proxy.x").info("quiet")
    logging.getLogger("proxy.x").warning("loud")
    assert first.getvalue() == ""
    assert second.getvalue().rstrip().endswith("WARNING proxy.x: loud")


def test_the_ready_line() -> None:
    out = io.StringIO()
    oplog.announce("optout-proxy ready on http://127.0.0.1:8080", "text", out)
    # As every other message in text: time, level, logger (issue 22: one format on stderr).
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO optout: "
        r"optout-proxy ready on http://127\.0\.0\.1:8080\n",
        out.getvalue(),
    )
    out = io.StringIO()
    oplog.announce("optout-proxy ready on http://127.0.0.1:8080", "json", out)
    entry = json.loads(out.getvalue())
    assert entry["message"] == "optout-proxy ready on http://127.0.0.1:8080"


def test_a_flood_of_one_error_is_one_line_a_second_with_a_count() -> None:
    now = [100.0]
    repeats = oplog.Repeats(clock=lambda: now[0])
    log = logging.getLogger("proxy.flood")

    def passes(msg: str, level: int = logging.ERROR) -> bool:
        return repeats.filter(log.makeRecord(log.name, level, "f", 1, msg, (), None))

    assert passes("too many open files")
    assert [passes("too many open files") for _ in range(500)] == [False] * 500
    assert passes("another kind of error")
    assert passes("debug chatter", logging.INFO)
    assert passes("debug chatter", logging.INFO)
    now[0] += 1.0
    record = log.makeRecord(log.name, logging.ERROR, "f", 1, "too many open files", (), None)
    assert repeats.filter(record)
    assert record.getMessage() == "too many open files (500 more like this in the last 1 s)"
