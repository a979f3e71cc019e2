"""Make sure nginx and wrk are there, and describe the machine the figures come from.

Debian packages are installed when missing (`apt-get install`, with one
`apt-get update` retry). If that fails, nginx is skipped with a note, and load
falls back to the Python client in bench/load.py; the report says so.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any


def ensure(say: Any) -> list[str]:
    """Install what is missing; return notes for the report."""
    missing = [tool for tool in ("nginx", "wrk") if not _which(tool)]
    if not missing:
        return []
    say(f"installing {' '.join(missing)} from Debian ...")
    if not _apt("install", "-y", *missing):
        _apt("update")
        _apt("install", "-y", *missing)
    notes = []
    if not _which("nginx"):
        notes.append("nginx could not be installed: the nginx configuration is skipped")
    if not _which("wrk"):
        notes.append("wrk could not be installed: load comes from the slower Python client")
    return notes


def _which(tool: str) -> str | None:
    return shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/usr/bin")


def _apt(*args: str) -> bool:
    if shutil.which("apt-get") is None:
        return False
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(["apt-get", *args], capture_output=True, env=env, check=False)
    return done.returncode == 0


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    mem = re.search(r"^MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text(), re.M)
    return {
        "cpu": model.group(1) if model else platform.processor(),
        "cores": os.cpu_count(),
        "ram_gb": round(int(mem.group(1)) / 1024 / 1024, 1) if mem else None,
        "kernel": platform.release(),
        "os": _os_name(),
        "python": platform.python_version(),
        "mitmproxy": version("mitmproxy"),
        "nginx": _tool_version(["nginx", "-v"], r"nginx/(\S+)"),
        "wrk": _tool_version(["wrk", "-v"], r"wrk (\S+)"),
        "calibration_s": calibrate(),
        "loadavg_start": os.getloadavg()[0],
    }


def calibrate() -> float:
    """engine-notes' calib.py: a function-local loop of 10M additions, best of 5.

    0.46-0.53 s on the machine of the engine notes; scale CPU-bound figures by the ratio.
    """
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        total = 0
        for i in range(10_000_000):
            total += i
        best = min(best, time.perf_counter() - start)
    return round(best, 3)


def _os_name() -> str:
    try:
        return platform.freedesktop_os_release().get("PRETTY_NAME", sys.platform)
    except OSError:
        return sys.platform


def _tool_version(argv: list[str], pattern: str) -> str | None:
    path = _which(argv[0])
    if path is None:
        return None
    done = subprocess.run([path, *argv[1:]], capture_output=True, text=True, check=False)
    found = re.search(pattern, done.stdout + done.stderr)
    return found.group(1) if found else None
