"""Child processes in their own process groups, and what /proc says about them.

Every server is started with `start_new_session=True`, so killing its process
group also kills whatever it forked (nginx's worker). `Registry.close_all()` runs
from a `finally` in `__main__`, so Ctrl-C or an exception leaves nothing behind.
CPU and peak RSS are summed over the group: master plus worker for nginx.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


class Registry:
    """Every process this run started, so that exit can stop them all."""

    def __init__(self) -> None:
        self.live: list[subprocess.Popen[bytes]] = []

    def start(
        self,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        log: Path | None = None,
        capture: bool = False,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start `argv` in a new session; stderr goes to `log`, stdout is kept if `capture`."""
        out = log.open("wb") if log else subprocess.DEVNULL
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                stderr=out,
                env=env,
                cwd=cwd,
                start_new_session=True,
            )
        finally:
            if log:
                out.close()  # type: ignore[union-attr]
        self.live.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
        """SIGTERM the group (lets optout flush its log), SIGKILL it if it lingers."""
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait()
        _signal_group(proc, signal.SIGKILL)  # stragglers in the group, if any
        if proc.stdout:
            proc.stdout.close()
        if proc in self.live:
            self.live.remove(proc)

    def close_all(self) -> None:
        for proc in list(self.live):
            self.stop(proc, timeout=5.0)


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def free_port() -> int:
    """A port that was free a moment ago (for servers that need one up front)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{proc.args!r} did not listen on {port} within {timeout} s")


@dataclass(frozen=True, slots=True)
class Usage:
    cpu_s: float  # utime + stime of every process in the group
    peak_rss_mb: float  # sum of VmHWM over the group


def group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat_fields(int(entry.name))
            if stat is not None and int(stat[2]) == pgid:
                pids.append(int(entry.name))
    return pids


def usage(pgid: int) -> Usage:
    cpu = 0.0
    rss_kb = 0
    for pid in group_pids(pgid):
        stat = _stat_fields(pid)
        if stat is not None:
            cpu += (int(stat[11]) + int(stat[12])) / TICKS
        rss_kb += _status_kb(pid, "VmHWM")
    return Usage(cpu, rss_kb / 1024)


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name: [state, ppid, pgrp, ...]."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
