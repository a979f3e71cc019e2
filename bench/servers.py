"""The configurations under test, each started fresh for every run.

- direct:   wrk straight to the upstream (the ceiling of this machine);
- mitmdump: plain `mitmdump --mode reverse`, the engine baseline of issue 9;
- optout:   `optout run` (as `python -m proxy run` from a snapshot of the tree) with
            the shipped rules and a file access log: the full pipeline;
- nginx:    the incumbent, one worker, upstream keepalive.

A fresh process per run keeps one run's heap growth and caches out of the next.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.procs import Registry, free_port, usage, wait_for_port

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TEMPLATE = Path(__file__).with_name("nginx.conf.template")
_READY = re.compile(rb"ready on http://127\.0\.0\.1:(\d+)")


@dataclass
class Server:
    """A running configuration: where to send load, and whose /proc to read."""

    config: str
    port: int
    proc: subprocess.Popen[bytes] | None
    workdir: Path | None = None
    notes: dict[str, object] = field(default_factory=dict)

    def cpu_s(self) -> float | None:
        return usage(self.proc.pid).cpu_s if self.proc else None

    def peak_rss_mb(self) -> float | None:
        return usage(self.proc.pid).peak_rss_mb if self.proc else None


@contextmanager
def running(
    config: str, upstream_port: int, registry: Registry, tree: Path, *, stream: bool = False
) -> Iterator[Server]:
    """Start `config` in front of the upstream; stop it and remove its files on exit."""
    workdir = Path(tempfile.mkdtemp(prefix=f"optout-bench-{config}-"))
    server: Server | None = None
    try:
        server = _START[config](Launch(upstream_port, registry, workdir, stream, tree))
        yield server
    finally:
        if server is not None and server.proc is not None:
            registry.stop(server.proc)
            if config == "optout":
                server.notes["log_records"] = _count_lines(workdir / "access.jsonl")
            if config == "nginx":
                server.notes["temp_file_warnings"] = _count_temp_warnings(workdir / "error.log")
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass(frozen=True, slots=True)
class Launch:
    """What every configuration is started with."""

    upstream_port: int
    registry: Registry
    workdir: Path
    stream: bool
    tree: Path  # the snapshot of proxy/, addons/ and rules/


_TREE = ("proxy", "addons", "rules")


def snapshot(ref: str | None) -> Path:
    """A copy of proxy/, addons/ and rules/ that every run of this suite uses.

    The repository is edited while a run of half an hour goes on; without a copy,
    each fresh proxy process would load whatever is on disk at that moment. With
    `ref`, the copy comes from that git revision instead of the working tree.
    """
    target = Path(tempfile.mkdtemp(prefix="optout-bench-tree-"))
    if ref is None:
        for name in _TREE:
            skip = shutil.ignore_patterns("__pycache__")
            shutil.copytree(ROOT / name, target / name, ignore=skip)
        return target
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, *_TREE], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def describe(ref: str | None) -> str:
    """The revision measured, for the report: `<commit>` or `<commit> + working tree`."""
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", ref or "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if ref is not None:
        return head
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", *_TREE],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return f"{head} + uncommitted changes" if dirty else head


def _direct(launch: Launch) -> Server:
    return Server("direct", launch.upstream_port, None)


def _mitmdump(launch: Launch) -> Server:
    up, workdir = launch.upstream_port, launch.workdir
    port = free_port()
    argv = [
        str(BIN / "mitmdump"),
        "--mode",
        f"reverse:http://127.0.0.1:{up}@127.0.0.1:{port}",
        "-q",
        "--set",
        "flow_detail=0",
        "--set",
        "connection_strategy=lazy",
    ]
    if launch.stream:
        argv += ["--set", "stream_large_bodies=1m"]
    env = {**os.environ, "HOME": str(workdir)}  # its CA goes here, not in ~/.mitmproxy
    proc = launch.registry.start(argv, env=env, log=workdir / "stderr.log")
    wait_for_port(port, proc)
    return Server("mitmdump", port, proc, workdir)


def _optout(launch: Launch) -> Server:
    up, workdir = launch.upstream_port, launch.workdir
    # `python -m proxy` from the snapshot: its directory comes first on sys.path,
    # ahead of the editable install of the working tree.
    argv = [
        sys.executable,
        "-m",
        "proxy",
        "run",
        "--upstream",
        f"http://127.0.0.1:{up}",
        "--listen",
        "127.0.0.1:0",
        "--rules",
        str(launch.tree / "rules"),
        "--log",
        str(workdir / "access.jsonl"),
        "--state",
        str(workdir / "state"),
    ]
    env = {**os.environ, "HOME": str(workdir)}
    log = workdir / "stderr.log"
    proc = launch.registry.start(argv, env=env, log=log, cwd=launch.tree)
    port = _wait_for_ready(log, proc)
    wait_for_port(port, proc)
    return Server("optout", port, proc, workdir)


def _nginx(launch: Launch) -> Server:
    up, workdir = launch.upstream_port, launch.workdir
    port = free_port()
    # The worker runs as an unprivileged user when we are root: let it into the temp dirs.
    workdir.chmod(0o755)
    for sub in ("client", "proxy", "fastcgi", "uwsgi", "scgi"):
        (workdir / "tmp" / sub).mkdir(parents=True)
        (workdir / "tmp" / sub).chmod(0o777)
    (workdir / "tmp").chmod(0o777)
    text = TEMPLATE.read_text()
    for key, value in {"DIR": workdir, "UPSTREAM_PORT": up, "PORT": port}.items():
        text = text.replace("{{" + key + "}}", str(value))
    conf = workdir / "nginx.conf"
    conf.write_text(text)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    argv = [nginx, "-p", str(workdir), "-e", str(workdir / "error.log"), "-c", str(conf)]
    proc = launch.registry.start(argv, log=workdir / "stderr.log")
    wait_for_port(port, proc)
    return Server("nginx", port, proc, workdir)


def _wait_for_ready(log: Path, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _READY.search(log.read_bytes())
        if found:
            return int(found.group(1))
        if proc.poll() is not None:
            raise RuntimeError(f"optout exited with {proc.returncode}: {log.read_text()[-2000:]}")
        time.sleep(0.05)
    raise RuntimeError(f"optout was not ready within {timeout} s: {log.read_text()[-2000:]}")


def _count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def _count_temp_warnings(path: Path) -> int:
    if not path.exists():
        return 0
    return path.read_text(errors="replace").count("buffered to a temporary file")


_START = {"direct": _direct, "mitmdump": _mitmdump, "optout": _optout, "nginx": _nginx}
CONFIGS = tuple(_START)
