"""One worker of `optout run --workers N`: `python -m proxy.engine.worker`, started by the
supervisor (proxy.engine.supervisor), never by hand.

It reads its spec (proxy.engine.workerspec) from standard input, loads the rules
and serves exactly as a single `optout run` does, on the listening sockets it
inherited. It tells the supervisor it is ready over its control socket, and treats
that socket's end (the supervisor died, even by SIGKILL) like SIGTERM: it drains and
exits, so no worker outlives its supervisor. Its own messages carry `worker <i>:`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import sys
import threading

from proxy.engine import runner
from proxy.engine.workerspec import WorkerSpec
from proxy.errors import RuleError, SettingsError
from proxy.identity.networks import use_cache_dir
from proxy.ops import oplog
from proxy.ruleset import load_rules

log = logging.getLogger("optout")


class _Named(logging.Filter):
    """Prefix every message with the worker's number, so stderr tells the workers apart."""

    def __init__(self, worker: int) -> None:
        super().__init__()
        self.prefix = f"worker {worker}: "

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(self.prefix):
            record.msg, record.args = self.prefix + record.getMessage(), None
        return True


def _name_messages(worker: int) -> None:
    for handler in logging.getLogger().handlers:
        if handler.get_name() == oplog.HANDLER_NAME:
            handler.addFilter(_Named(worker))


def _watch_supervisor(control: socket.socket) -> None:
    """Block until the supervisor's end closes, then stop as on SIGTERM."""
    try:
        while control.recv(256):
            pass
    except OSError:
        pass
    os.kill(os.getpid(), signal.SIGTERM)


def main() -> int:
    spec = WorkerSpec.loads(sys.stdin.buffer.read())
    settings = spec.settings
    oplog.configure(settings.log_format, settings.log_level)
    _name_messages(spec.worker)
    control = socket.socket(fileno=spec.control)

    def announce(host: str, port: int, https: str | None, admin: str | None) -> None:
        event = {"event": "ready", "pid": os.getpid(), "admin": admin}
        control.sendall(json.dumps(event).encode() + b"\n")

    try:
        use_cache_dir(settings.cache)
        ruleset = load_rules(settings.rules)
        threading.Thread(target=_watch_supervisor, args=(control,), daemon=True).start()
        asyncio.run(runner.serve(settings, ruleset, announce, worker=spec))
    except (RuleError, SettingsError) as e:
        for line in str(e).splitlines():
            log.error("%s", line)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
