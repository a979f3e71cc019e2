"""The proxy's own messages all go through the operational log, so --log-format covers them."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from proxy.ops import oplog
from proxy.settings import resolve
from proxy.store.documents import DocumentStore
from proxy.store.logwriter import LogWriter


@pytest.fixture
def stderr() -> Iterator[io.StringIO]:
    """The operational log as `optout run --log-format json` sets it up, into a buffer."""
    root = logging.getLogger()
    level = root.level
    settings = resolve({"log_format": "json", "upstream": "http://origin"}, {})
    stream = io.StringIO()
    oplog.configure(settings.log_format, settings.log_level, stream)
    yield stream
    for handler in [h for h in root.handlers if h.get_name() == oplog.HANDLER_NAME]:
        root.removeHandler(handler)
    root.setLevel(level)


def _messages(stream: io.StringIO) -> list[dict[str, str]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_the_document_store_reports_in_json(stderr: io.StringIO, tmp_path: Path) -> None:
    (tmp_path / "served").write_bytes(b"")  # a file where the directory should be
    DocumentStore(tmp_path).put(b"User-agent: *\n", "robots.txt")
    (message,) = _messages(stderr)
    assert message["log.level"] == "warning"
    assert message["log.logger"] == "proxy.store.documents"
    assert message["message"].startswith("cannot keep the served robots.txt ")


def test_the_log_writer_reports_lost_records_in_json(stderr: io.StringIO, tmp_path: Path) -> None:
    target = tmp_path / "access.jsonl"
    target.mkdir()  # every open fails, as on a full or read-only disk
    writer = LogWriter(str(target))
    writer.write({"n": 1})
    writer.flush()
    target.rmdir()
    writer.write({"n": 2})
    writer.close()
    assert writer.lost == 1
    trouble, again = _messages(stderr)  # the trouble is reported once every 10 s at most
    assert (trouble["log.level"], trouble["log.logger"]) == ("error", "proxy.store.logwriter")
    assert trouble["message"].startswith(f"access log {target}: ")
    assert again["log.level"] == "warning"
    assert "writing again after 1 lost records" in again["message"]
