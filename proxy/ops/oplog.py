"""The proxy's own messages (not the access log) on standard error, as text or JSON lines.

Container platforms collect stderr and parse JSON lines, so `OPTOUT_LOG_FORMAT=json`
writes each message as one object with Elastic Common Schema names, like the
access log. mitmproxy's loggers (connection chatter at info) only pass at warning
and above, whatever the level asked for. The ready line is always printed,
whatever the level: scripts and tests wait for it.

Under attack the same error can come thousands of times a second (a descriptor
limit, a failing upstream). `Repeats` lets the first of a kind through and then
at most one line a second per kind, saying how many were held back.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TextIO

HANDLER_NAME = "optout"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET_LOGGERS = ("mitmproxy", "watchfiles", "aiohttp.access")


class Repeats(logging.Filter):
    """At most one message a second of each kind (logger, level, format); counts the rest.

    Only warnings and errors are held back: they are what floods under attack.
    """

    def __init__(self, interval: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval = interval
        self.clock = clock
        self._seen: dict[tuple[str, int, object], tuple[float, int]] = {}  # kind: (last, held)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        kind = (record.name, record.levelno, record.msg)
        now = self.clock()
        last, held = self._seen.get(kind, (-float("inf"), 0))
        if now - last < self.interval:
            self._seen[kind] = (last, held + 1)
            return False
        if len(self._seen) > 1000:  # bounded: forget the kinds of the past
            self._seen.clear()
        self._seen[kind] = (now, 0)
        if held:
            record.msg = f"{record.msg} ({held} more like this in the last {now - last:.0f} s)"
        return True


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
    handler.addFilter(Repeats())
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    threshold = logging.getLevelNamesMapping()[level.upper()]
    root.setLevel(threshold)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(threshold, logging.WARNING))


def announce(message: str, fmt: str, stream: TextIO | None = None) -> None:
    """Print the ready line, whatever the level, as the other messages look: in text
    `TIME INFO optout: …` (a banner's further lines follow as they are), in json an object."""
    if fmt == "json":
        when = datetime.now(UTC).timestamp()
        entry = {"@timestamp": _iso(when), "log.level": "info", "message": message}
        message = json.dumps(entry, ensure_ascii=False)
    else:
        record = logging.LogRecord("optout", logging.INFO, "", 0, "%s", (message,), None)
        message = logging.Formatter(TEXT_FORMAT).format(record)
    print(message, file=stream or sys.stderr, flush=True)


def line(message: str, level: str) -> str:
    """One message as a json-format line, for output made outside the logging tree."""
    entry = {"@timestamp": _iso(time.time()), "log.level": level, "log.logger": "optout"}
    return json.dumps({**entry, "message": message}, ensure_ascii=False)


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"
