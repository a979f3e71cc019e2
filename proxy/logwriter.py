"""Write access-log records as JSON lines without blocking the event loop.

Records go through a queue to one background thread, which serialises them and
writes in batches. `close()` drains the queue, so a clean shutdown keeps every
record of a completed request. When the file cannot be written (disk full,
permissions), the proxy keeps serving: records of that batch are counted as lost,
reported on stderr, and writing resumes with the next batch.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

_STOP = object()
_BATCH = 512


class LogWriter:
    def __init__(self, target: str) -> None:
        """`target` is a file path, or '-' for standard output."""
        self.target = target
        self.written = 0
        self.lost = 0
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._file: TextIO | None = None
        self._thread = threading.Thread(target=self._run, name="optout-log", daemon=True)
        self._thread.start()

    def write(self, record: dict[str, Any]) -> None:
        self._queue.put(record)

    def close(self) -> None:
        """Write every queued record, then stop the thread."""
        self._queue.put(_STOP)
        self._thread.join()

    def _run(self) -> None:
        stop = False
        while not stop:
            batch = [self._queue.get()]
            while len(batch) < _BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if _STOP in batch:
                stop = True
                batch = [r for r in batch if r is not _STOP]
            if batch:
                self._write(batch)
        self._drop_file()

    def _write(self, batch: list[dict[str, Any]]) -> None:
        text = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in batch)
        try:
            out = self._open()
            out.write(text)
            out.flush()
        except (OSError, ValueError) as e:
            self.lost += len(batch)
            print(
                f"optout: access log {self.target}: {e}; {self.lost} records lost so far",
                file=sys.stderr,
            )
            self._drop_file()
            return
        self.written += len(batch)

    def _drop_file(self) -> None:
        # Reopen on the next batch: the disk may have space again, or the file a new owner.
        if self._file is not None and self._file is not sys.stdout:
            try:
                self._file.close()
            except OSError:
                pass
        self._file = None

    def _open(self) -> TextIO:
        if self._file is None:
            if self.target == "-":
                self._file = sys.stdout
            else:
                path = Path(self.target)
                path.parent.mkdir(parents=True, exist_ok=True)
                self._file = path.open("a", encoding="utf-8")
        return self._file
