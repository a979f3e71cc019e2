"""The configurations under test, each started fresh for every run.

- direct:   wrk straight to the upstream (the ceiling of this machine);
- mitmdump: plain `mitmdump --mode reverse`, the engine baseline of issue 9;
- optout:   `optout run` (as `python -m proxy run` from a snapshot of the tree) with
            the shipped rules and a file access log: the full pipeline;
- nginx:    the incumbent, one worker, upstream keepalive;
- optout2:  two `optout run` processes behind that nginx as the load balancer
            (trusting its X-Forwarded-For): scaling out, as `deploy/` documents.
            Not in the default set; ask for it with `--configs`.

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
    others: tuple[subprocess.Popen[bytes], ...] = ()  # the replicas behind a balancer

    def cpu_s(self) -> float | None:
        """CPU seconds of every process of the configuration, balancer and replicas."""
        procs = self._procs()
        return sum(usage(p.pid).cpu_s for p in procs) if procs else None

    def peak_rss_mb(self) -> float | None:
        """The sum of every process's peak: what the configuration costs in memory."""
        procs = self._procs()
        return sum(usage(p.pid).peak_rss_mb for p in procs) if procs else None

    def _procs(self) -> list[subprocess.Popen[bytes]]:
        return [*([self.proc] if self.proc else []), *self.others]


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
            for proc in (server.proc, *server.others):
                registry.stop(proc)
            if config.startswith("optout"):
                logs = sorted(workdir.rglob("access.jsonl"))
                server.notes["log_records"] = sum(_count_lines(log) for log in logs)
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
    proc, port = _start_optout(launch, launch.workdir)
    return Server("optout", port, proc, launch.workdir)


def _optout2(launch: Launch) -> Server:
    """Two replicas behind nginx, each with its own state and log, as in deploy/."""
    replicas = []
    for name in ("a", "b"):
        workdir = launch.workdir / name
        workdir.mkdir()
        replicas.append(_start_optout(launch, workdir, "--trusted-proxies", "127.0.0.1/32"))
    proc, port = _start_nginx(launch, [port for _, port in replicas])
    return Server("optout2", port, proc, launch.workdir, others=tuple(p for p, _ in replicas))


def _start_optout(
    launch: Launch, workdir: Path, *extra: str
) -> tuple[subprocess.Popen[bytes], int]:
    # `python -m proxy` from the snapshot: its directory comes first on sys.path,
    # ahead of the editable install of the working tree.
    argv = [
        sys.executable,
        "-m",
        "proxy",
        "run",
        "--upstream",
        f"http://127.0.0.1:{launch.upstream_port}",
        "--listen",
        "127.0.0.1:0",
        "--rules",
        str(launch.tree / "rules"),
        "--log",
        str(workdir / "access.jsonl"),
        "--state",
        str(workdir / "state"),
        *extra,
    ]
    env = {**os.environ, "HOME": str(workdir), "OPTOUT_ADMIN": "off"}
    log = workdir / "stderr.log"
    proc = launch.registry.start(argv, env=env, log=log, cwd=launch.tree)
    port = _wait_for_ready(log, proc)
    wait_for_port(port, proc)
    return proc, port


def _nginx(launch: Launch) -> Server:
    proc, port = _start_nginx(launch, [launch.upstream_port])
    return Server("nginx", port, proc, launch.workdir)


def _start_nginx(launch: Launch, backends: list[int]) -> tuple[subprocess.Popen[bytes], int]:
    workdir = launch.workdir
    port = free_port()
    # The worker runs as an unprivileged user when we are root: let it into the temp dirs.
    workdir.chmod(0o755)
    for sub in ("client", "proxy", "fastcgi", "uwsgi", "scgi"):
        (workdir / "tmp" / sub).mkdir(parents=True)
        (workdir / "tmp" / sub).chmod(0o777)
    (workdir / "tmp").chmod(0o777)
    servers = "\n        ".join(f"server 127.0.0.1:{b};" for b in backends)
    text = TEMPLATE.read_text()
    for key, value in {"DIR": workdir, "SERVERS": servers, "PORT": port}.items():
        text = text.replace("{{" + key + "}}", str(value))
    conf = workdir / "nginx.conf"
    conf.write_text(text)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    argv = [nginx, "-p", str(workdir), "-e", str(workdir / "error.log"), "-c", str(conf)]
    proc = launch.registry.start(argv, log=workdir / "stderr.log")
    wait_for_port(port, proc)
    return proc, port


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


_START = {
    "direct": _direct,
    "mitmdump": _mitmdump,
    "optout": _optout,
    "nginx": _nginx,
    "optout2": _optout2,
}
CONFIGS = tuple(_START)
DEFAULT_CONFIGS = ("direct", "mitmdump", "optout", "nginx")
