"""The proxy's own messages (not the access log) on standard error, as text or JSON lines.

Container platforms collect stderr and parse JSON lines, so `OPTOUT_LOG_FORMAT=json`
writes each message as one object with Elastic Common Schema names, like the
access log. mitmproxy's loggers (connection chatter at info) only pass at warning
and above, whatever the level asked for. The ready line is always printed,
whatever the level: scripts and tests wait for it.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

HANDLER_NAME = "optout"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET_LOGGERS = ("mitmproxy", "watchfiles", "aiohttp.access")


class JsonFormatter(logging.Formatter):
    """One JSON object per message."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "@timestamp": _iso(record.created),
            "log.level": record.levelname.lower(),
            "log.logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error.stack_trace"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(fmt: str, level: str, stream: TextIO | None = None) -> None:
    """Send every logger's messages to `stream` (stderr) in `fmt`, from `level` up."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    threshold = logging.getLevelNamesMapping()[level.upper()]
    root.setLevel(threshold)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(threshold, logging.WARNING))


def announce(message: str, fmt: str, stream: TextIO | None = None) -> None:
    """Print the ready line: plain text, or in json format an object with `message`."""
    if fmt == "json":
        when = datetime.now(UTC).timestamp()
        entry = {"@timestamp": _iso(when), "log.level": "info", "message": message}
        message = json.dumps(entry, ensure_ascii=False)
    print(message, file=stream or sys.stderr, flush=True)


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"
