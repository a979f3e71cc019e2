"""Write access-log records as hash-chained JSON lines without blocking the event loop.

Records go through a queue to one background thread, which stamps them with
their place in the chain (proxy.evidence.chain), serialises them and writes in batches.
`close()` drains the queue, so a clean shutdown keeps every record of a
completed request. With a state dir, each batch is fsynced and the chain head
saved after it, so a restart continues the chain and a cut-off tail is detected.

Rotation: before a batch that would take the file past `max_bytes`, or on the
first batch of a new UTC day, the file is renamed (proxy.evidence.logfiles names it),
gzip-compressed into a new file, and rotated files beyond `keep` are deleted.
A rotated file is never written again; the chain goes on in the new file.

Failure policy: when the file cannot be written (disk full, permissions), the
proxy keeps serving. The batch's records are counted in `lost` and reported to
the operational log (at most every 10 s), and a partly written batch is cut off again. Their
sequence numbers are skipped, so the chain is not broken: the first line written
when writing works again is a `log-gap` record naming the lost numbers and
linking to the last line actually written; `optout logs verify` lists the gaps.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from proxy.evidence import logfiles
from proxy.evidence.chain import (
    GAP_ACTION,
    GENESIS,
    HEAD_FILE,
    ChainWriter,
    Head,
    digest,
    load_head,
    save_head,
)
from proxy.evidence.record import ECS_VERSION

log = logging.getLogger(__name__)

_STOP = object()
_TICK = object()  # no record came before the sync was due
_BATCH = 4096  # large batches under load: one write, fsync and head save for many records
_REPORT_EVERY = 10.0  # seconds between two reports of the same trouble
# After the first record of a batch, wait this long for more before writing: the
# thread then wakes (and takes the GIL from the event loop) about 50 times a second
# under load instead of once per request, which cost the proxy 5% of its CPU.
_GATHER = 0.02


class LogWriter:
    def __init__(
        self,
        target: str,
        *,
        state_dir: Path | None = None,
        hmac_key: bytes | None = None,
        max_bytes: int = 100 * 2**20,
        keep: int = 30,
        compress: bool = True,
        clock: Callable[[], float] = time.time,
        sync_interval: float = 1.0,
        head_file: str = HEAD_FILE,
        worker: int | None = None,
    ) -> None:
        """`target` is a file path, or '-' for standard output (never rotated).

        Without `state_dir` there is no chain head: the chain continues from the
        log's last line, and records cut off the end go unnoticed. With it, the
        file is fsynced and the chain head saved at most every `sync_interval`
        seconds, and always on flush and close: syncing every small batch cost a
        quarter of the proxy's time under load, and a crash can lose at most the
        last second of records, which the chain head then does not vouch for.

        `head_file` names the chain head in `state_dir`, and `worker` (of `--workers`)
        goes into every line as `optout.worker`: each worker writes its own chain.
        """
        if max_bytes < 1 or keep < 0:
            raise ValueError("max_bytes must be positive and keep not negative")
        self.target = target
        self.written = 0
        self.lost = 0
        self.max_bytes, self.keep, self.compress = max_bytes, keep, compress
        self._path = None if target == "-" else Path(target)
        self._state, self._key, self._clock = state_dir, hmac_key, clock
        self._head_file, self._worker = head_file, worker
        self._chain = ChainWriter(hmac_key)
        self._gap: tuple[int, int] | None = None  # sequence numbers lost, not yet told
        self._fd: int | None = None
        self._size = 0
        self._day: date | None = None
        self._first = 0  # sequence number of the current file's first record
        self._sync_interval = sync_interval
        self._synced = -math.inf  # monotonic time of the last fsync and head save
        self._dirty = False  # written since the last sync
        self._reported = -math.inf
        self._archiver: threading.Thread | None = None
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="optout-log", daemon=True)
        self._thread.start()

    def write(self, record: dict[str, Any]) -> None:
        self._queue.put(record)

    def close(self) -> None:
        """Write every queued record, then stop the thread."""
        self._queue.put(_STOP)
        self._thread.join()

    def flush(self) -> None:
        """Wait until every record queued so far has been written (or counted as lost)."""
        done = threading.Event()
        self._queue.put(done)
        done.wait()

    def current_head(self) -> Head:
        """The head once every record queued so far is written and synced: what a
        checkpoint may vouch for (called from a thread other than the writer's)."""
        probe = _HeadProbe()
        self._queue.put(probe)
        probe.wait()
        return probe.head

    def _run(self) -> None:
        self._chain = self._recover()
        stop = False
        while not stop:
            batch, marker = self._next_batch()
            if marker is _TICK:
                self._sync()  # records are waiting for the head to vouch for them
                continue
            if batch or self._gap is not None:
                self._write(batch)
            if isinstance(marker, threading.Event):
                self._settle()
                if isinstance(marker, _HeadProbe):
                    marker.head = self._chain.head
                marker.set()
            stop = marker is _STOP
        self._settle()
        self._drop_file()

    def _next_batch(self) -> tuple[list[dict[str, Any]], object]:
        """Up to _BATCH records, and the flush or stop marker that ended the batch, if any."""
        batch: list[dict[str, Any]] = []
        try:
            item = self._queue.get(timeout=self._sync_due())
        except queue.Empty:
            return batch, _TICK
        if item is not _STOP and not isinstance(item, threading.Event):
            time.sleep(_GATHER)
        while True:
            if item is _STOP or isinstance(item, threading.Event):
                return batch, item
            batch.append(item)
            if len(batch) == _BATCH:
                return batch, None
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return batch, None

    def _write(self, batch: list[dict[str, Any]]) -> None:
        chain = self._chain
        sequence, prev = chain.sequence, chain.prev
        gap = self._gap
        lines = [chain.stamp(self._tagged(self._gap_record(*gap)))] if gap is not None else []
        for record in batch:
            try:
                lines.append(chain.stamp(self._tagged(record)))
            except (TypeError, ValueError) as e:  # a record that is not JSON: a bug upstream
                self.lost += 1
                self._report(f"record not serialisable ({e}); {self.lost} records lost so far")
        count = len(lines) - (gap is not None)
        if not lines:
            return
        try:
            self._append(b"\n".join(lines) + b"\n", sequence + 1)
        except (OSError, ValueError) as e:
            chain.sequence, chain.prev = sequence, prev  # nothing of this batch was written
            self._lose(count, str(e))
            return
        self.written += count
        if gap is not None:
            lost = gap[1] - gap[0] + 1
            self._gap = None
            log.warning(
                "access log %s: writing again after %d lost records (recorded as a log-gap record)",
                self.target,
                lost,
            )
        self._dirty = True
        if time.monotonic() - self._synced >= self._sync_interval:
            self._sync()

    def _tagged(self, record: dict[str, Any]) -> dict[str, Any]:
        if self._worker is None:
            return record
        return {**record, "optout": {**record.get("optout", {}), "worker": self._worker}}

    def _sync_due(self) -> float | None:
        """Seconds until written records must be synced and vouched for; None: none wait.

        An idle proxy still saves the head within `sync_interval` of its last
        record, so `optout logs verify` never sees a log newer than its head for
        longer than that (and a crash leaves at most that much unvouched).
        """
        if not self._dirty:
            return None
        return max(0.0, self._synced + self._sync_interval - time.monotonic())

    def _sync(self) -> None:
        """Make what was written durable, then vouch for it in the chain head."""
        if self._state is not None and self._dirty:
            if self._fd is not None:
                try:
                    os.fsync(self._fd)
                except OSError as e:
                    self._report(f"cannot sync the log: {e}")
            self._save_head()
        self._dirty = False
        self._synced = time.monotonic()

    def _lose(self, count: int, error: str) -> None:
        """Skip the numbers of `count` stamped records that were not written."""
        if count:
            first = self._gap[0] if self._gap is not None else self._chain.sequence + 1
            self._chain.sequence += count
            self._gap = (first, self._chain.sequence)
        self.lost += count
        self._report(f"{error}; {self.lost} records lost so far")

    def _report(self, message: str) -> None:
        now = time.monotonic()
        if now - self._reported >= _REPORT_EVERY:
            self._reported = now
            log.error("access log %s: %s", self.target, message)

    def _gap_record(self, first: int, last: int) -> dict[str, Any]:
        lost = last - first + 1
        return {
            "@timestamp": _iso(self._clock()),
            "ecs": {"version": ECS_VERSION},
            "event": {
                "kind": "event",
                "type": ["error"],
                "action": GAP_ACTION,
                "outcome": "failure",
            },
            "message": f"{lost} access-log records could not be written and are lost",
            "optout": {"gap": {"lost": lost, "first_sequence": first, "last_sequence": last}},
        }

    def _append(self, data: bytes, first: int) -> None:
        if self._path is None:
            _to_stdout(data)
            return
        fd = self._open(self._path)
        if self._size and (self._size + len(data) > self.max_bytes or self._today() != self._day):
            self._rotate(self._path)
            fd = self._open(self._path)
        if self._size == 0:
            self._first = first
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except OSError:
            self._cut(fd, self._size)
            raise
        self._size += len(data)

    def _cut(self, fd: int, size: int) -> None:
        """Remove a partly written batch, so the file holds whole records only."""
        try:
            os.ftruncate(fd, size)
        except OSError:
            pass
        self._drop_file()

    def _open(self, path: Path) -> int:
        """The open log file; reopened if someone moved or deleted it (WatchedFileHandler)."""
        if self._fd is not None and not _same_file(path, self._fd):
            self._drop_file()
        if self._fd is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            stat = os.fstat(fd)
            self._size = stat.st_size
            self._day = _utc_day(stat.st_mtime) if stat.st_size else self._today()
            self._first = logfiles.sequence_of(logfiles.first_line(path)) if stat.st_size else 0
            self._fd = fd
        return self._fd

    def _rotate(self, path: Path) -> None:
        if self._fd is not None and self._state is not None:
            # The rotated file is final: make it durable before it moves. (The chain
            # head is saved after the batch being written lands, not here.)
            try:
                os.fsync(self._fd)
            except OSError as e:
                self._report(f"cannot sync the log: {e}")
        self._drop_file()
        rotated = path.with_name(logfiles.rotated_name(path.name, self._clock(), self._first))
        if rotated.exists():
            raise FileExistsError(f"cannot rotate {path}: {rotated} exists")
        os.rename(path, rotated)
        self._size = 0
        self._settle()  # one compression at a time, in order
        self._archiver = threading.Thread(
            target=self._archive, args=(path, rotated), name="optout-log-gzip", daemon=True
        )
        self._archiver.start()

    def _archive(self, path: Path, rotated: Path) -> None:
        """Compress and prune beside the writer, which goes on writing meanwhile."""
        try:
            if self.compress:
                logfiles.compress(rotated)
            logfiles.prune(path, self.keep)
        except OSError as e:  # the records are safe in the rotated file
            self._report(f"after rotating to {rotated}: {e}")

    def _settle(self) -> None:
        self._sync()
        if self._archiver is not None:
            self._archiver.join()
            self._archiver = None

    def _drop_file(self) -> None:
        # Reopen on the next batch: the disk may have space again, or the file a new owner.
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
        self._fd = None

    def _today(self) -> date:
        return _utc_day(self._clock())

    def _save_head(self) -> None:
        if self._state is None:
            return
        try:
            self._state.mkdir(parents=True, exist_ok=True)
            save_head(self._state / self._head_file, self._chain.head)
        except OSError as e:
            self._report(f"cannot save the chain head in {self._state}: {e}")

    def _recover(self) -> ChainWriter:
        """Continue the chain from the chain head or the log's last line, whichever is newer."""
        head = None
        if self._state is not None:
            try:
                head = load_head(self._state / self._head_file)
            except (OSError, ValueError) as e:
                self._report(f"chain head unreadable, continuing from the log: {e}")
        last = self._last_on_disk(everything=head is None)
        if last is not None and (head is None or logfiles.sequence_of(last) >= head.sequence):
            return ChainWriter(self._key, logfiles.sequence_of(last), digest(last, self._key))
        if head is not None:
            return ChainWriter(self._key, head.sequence, head.digest)
        return ChainWriter(self._key)

    def _last_on_disk(self, everything: bool) -> bytes | None:
        """The newest chained line written; without a head, rotated files are searched too."""
        if self._path is None:
            return None
        try:
            cut = logfiles.drop_incomplete_line(self._path)
            if cut:
                self._report(f"removed an incomplete last line ({cut} bytes) left by a crash")
            return logfiles.newest_line(self._path, everything)
        except (OSError, logfiles.LogReadError) as e:
            self._report(f"cannot read the end of the log: {e}")
        return None


class _HeadProbe(threading.Event):
    """A flush that also brings back the chain head as of its place in the queue."""

    head: Head = Head(0, GENESIS)


def _same_file(path: Path, fd: int) -> bool:
    try:
        named, opened = os.stat(path), os.fstat(fd)
    except OSError:
        return False
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def _utc_day(timestamp: float) -> date:
    return datetime.fromtimestamp(timestamp, UTC).date()


def _to_stdout(data: bytes) -> None:
    out = sys.stdout
    out.flush()
    buffer = getattr(out, "buffer", None)
    if buffer is None:
        out.write(data.decode("ascii"))
        out.flush()
    else:
        buffer.write(data)
        buffer.flush()
