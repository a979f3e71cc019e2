"""`optout run --workers N`: a supervisor process and N workers serving the same port.

mitmproxy serves from one thread, so one process uses one core. The supervisor
binds the listening sockets itself, one SO_REUSEPORT socket per worker on the same
port, and starts N worker processes (proxy.engine.worker), each serving its socket
exactly as a single `optout run` does. The kernel spreads new connections evenly
over the sockets. The supervisor keeps its copy of every socket, so when a worker
dies the connections queued on its socket wait for the worker that replaces it.

- A worker that exits is restarted, after a backoff that doubles (0.5 s up to
  30 s) while it keeps dying within 30 s of its start; each restart is counted
  (`optout_worker_restarts_total{worker}`) and logged.
- SIGHUP is passed to every worker (each reloads its rules); SIGTERM or SIGINT
  drains them all with a single process's guarantees (each lets its requests
  finish and writes every record), a second one stops them at once.
- The supervisor owns the admin port (proxy.engine.workeradmin): /metrics sums the
  workers, /readyz is ready when every worker is, /reload reaches every worker.
- Worker i writes `access-<i>.jsonl` beside the `--log` file and keeps its chain
  head in `STATE/chain-head-<i>.json` and its charges in `STATE/ledger/ledger-<i>.jsonl`;
  the rest of the state dir is shared (content-addressed files, written by rename).

The workers run in their own process group, so Ctrl-C in a terminal reaches the
supervisor only (which drains them once), and each stops when its supervisor's end
of their socket pair closes, even after SIGKILL of the supervisor.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from proxy.engine import preflight
from proxy.engine.admin import start
from proxy.engine.workeradmin import WorkersAdmin
from proxy.engine.workerspec import WorkerSpec, worker_settings
from proxy.errors import SettingsError
from proxy.evidence.chain import worker_log
from proxy.ops.metricsmerge import Families, Totals
from proxy.settings import Settings

log = logging.getLogger(__name__)

BACKOFF_FIRST = 0.5  # seconds before restarting a worker that died soon after its start
BACKOFF_MAX = 30.0
STABLE = 30.0  # a worker that ran this long is restarted without delay
START_TIMEOUT = 120.0  # seconds every worker has to become ready at start-up
STOP_GRACE = 15.0  # past --shutdown-timeout: the shutdown checkpoint and the log's flush
SCRAPE_EVERY = 5.0  # seconds between scrapes kept for a worker that dies (metricsmerge)
BACKLOG = 1024

# The proxy's host and port, the https listener's HOST:PORT or None, the admin URL or None.
Announce = Callable[[str, int, str | None, str | None], None]


@dataclass
class Slot:
    """One worker's place: its number and sockets, and the process now filling it."""

    worker: int
    sockets: list[socket.socket]  # one per listener (plain, then TLS)
    process: asyncio.subprocess.Process | None = None
    control: asyncio.StreamWriter | None = None
    admin: str | None = None  # the running worker's admin URL, once it is ready
    ready: bool = False
    restarts: int = 0
    quick_failures: int = 0  # deaths in a row within STABLE of a start
    last: Families = field(default_factory=dict)  # its metrics as last scraped

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None


def problems(settings: Settings) -> list[str]:
    """What --workers above 1 cannot run with: standard output as the log, or a worker's
    log file that cannot be written."""
    if settings.workers < 2:
        return []
    if settings.log == "-":
        return [
            f"--workers / OPTOUT_WORKERS {settings.workers} needs --log FILE / OPTOUT_LOG: "
            "workers write their own files (access-<i>.jsonl) and cannot share standard output"
        ]
    found = (preflight.log_problem(str(f)) for f in worker_logs(settings))
    return [problem for problem in found if problem is not None]


def bind(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` listening SO_REUSEPORT sockets on one port (port 0: a free one)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    bound: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, kind, proto)
            bound.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:  # as asyncio binds: IPv6 only
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(BACKLOG)
            address = (address[0], sock.getsockname()[1], *address[2:])
    except OSError:
        for sock in bound:
            sock.close()
        raise
    return bound


class Supervisor:
    def __init__(self, settings: Settings, announce: Announce) -> None:
        self.settings = settings
        self.announce = announce
        self.token = secrets.token_urlsafe(32)  # the workers' admin endpoints need it
        self.slots: list[Slot] = []
        self.ports: list[int] = []  # bound: the plain listener's, then the TLS one's
        self.totals = Totals()
        self.draining = False
        self.failure: str | None = None  # why start-up failed
        self._announced = False
        self._stopping = asyncio.Event()
        self._changed = asyncio.Event()  # a worker became ready or ended
        self._tasks: set[asyncio.Task[None]] = set()  # keeps the control readers referenced

    async def run(self) -> None:
        """Serve until SIGTERM or SIGINT, then drain every worker."""
        self._bind()
        admin = WorkersAdmin(self)
        runner, admin_url = await self._start_admin(admin)
        self._install_signals()
        keepers = [asyncio.create_task(self._keep(slot)) for slot in self.slots]
        scraper: asyncio.Task[None] | None = None
        try:
            await self._started()
            if self.failure is None and not self._stopping.is_set():
                self._announced = True
                host = self.settings.listen_host
                https = None
                if self.settings.tls_listen is not None:
                    https = _hostport(self.settings.tls_listen[0], self.ports[1])
                self.announce(host, self.ports[0], https, admin_url)
                scraper = asyncio.create_task(self._scrape_regularly(admin))
                await self._stopping.wait()
        finally:
            if scraper is not None:
                scraper.cancel()
            await self._shutdown(keepers)
            await admin.close()
            if runner is not None:
                await runner.cleanup()
        if self.failure is not None:
            raise SettingsError(self.failure)

    def _bind(self) -> None:
        listeners = [("listen address", "--listen / OPTOUT_LISTEN", self.settings.listen_host,
                      self.settings.listen_port)]  # fmt: skip
        if self.settings.tls_listen is not None:
            tls = self.settings.tls_listen
            listeners.append(("TLS address", "--tls / OPTOUT_TLS_LISTEN", *tls))
        per_listener = []
        for what, where, host, port in listeners:
            try:
                sockets = bind(host, port, self.settings.workers)
            except OSError as e:
                problem = preflight.port_problem(what, where, host, port)
                raise SettingsError(problem or f"{what} ({where}): {e}") from None
            per_listener.append(sockets)
            self.ports.append(sockets[0].getsockname()[1])
        self.slots = [
            Slot(i + 1, [sockets[i] for sockets in per_listener])
            for i in range(self.settings.workers)
        ]

    async def _start_admin(self, admin: WorkersAdmin) -> tuple[web.AppRunner | None, str | None]:
        if self.settings.admin is None:
            return None, None
        host, port = self.settings.admin
        try:
            return await start(admin, host, port)
        except OSError as e:
            problem = preflight.port_problem("admin address", "--admin / OPTOUT_ADMIN", host, port)
            raise SettingsError(problem or f"admin address (--admin / OPTOUT_ADMIN): {e}") from None

    async def _started(self) -> None:
        """Wait until every worker is ready, one fails, or a signal stops the start."""
        deadline = time.monotonic() + START_TIMEOUT
        while not all(slot.ready for slot in self.slots):
            if self.failure is not None or self._stopping.is_set():
                return
            self._changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                self.failure = f"the workers were not all ready within {START_TIMEOUT:g} s"
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        loop.add_signal_handler(signal.SIGHUP, self.reload_signal)

    def stop(self) -> None:
        """Drain every worker; a second call makes them stop at once."""
        if self._stopping.is_set():
            log.info("second signal: stopping the workers at once")
            self._signal_all(signal.SIGTERM)
            return
        self._stopping.set()

    def reload_signal(self) -> None:
        """SIGHUP: every ready worker reloads (one starting up loads the rules anyway)."""
        self._signal_all(signal.SIGHUP, ready_only=True)

    def _signal_all(self, sig: signal.Signals, ready_only: bool = False) -> None:
        for slot in self.slots:
            if slot.process is not None and slot.alive and (slot.ready or not ready_only):
                with contextlib.suppress(ProcessLookupError):
                    slot.process.send_signal(sig)

    async def _keep(self, slot: Slot) -> None:
        """Run a worker in `slot` until the supervisor stops, replacing it when it ends."""
        while True:
            started = time.monotonic()
            try:
                process = await self._spawn(slot)
            except OSError as e:
                ended = f"could not be started: {e}"
            else:
                ended = _describe(await process.wait())
            self._ended(slot)
            if self._stopping.is_set():
                return
            if not self._announced:
                self.failure = f"worker {slot.worker} {ended} before it was ready"
                self._changed.set()
                return
            quick = time.monotonic() - started < STABLE
            slot.quick_failures = slot.quick_failures + 1 if quick else 0
            delay = 0.0
            if slot.quick_failures:
                delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (slot.quick_failures - 1))
            slot.restarts += 1
            log.warning(
                "worker %d (pid %s) %s; restarting it in %.1f s (restart %d)",
                slot.worker,
                slot.process.pid if slot.process is not None else "-",
                ended,
                delay,
                slot.restarts,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
                return

    async def _spawn(self, slot: Slot) -> asyncio.subprocess.Process:
        parent, child = socket.socketpair()
        settings = worker_settings(
            self.settings,
            slot.worker,
            self.ports[0],
            self.ports[1] if len(self.ports) > 1 else None,
            self.token,
        )
        listeners: dict[int, tuple[int, ...]] = {
            port: (s.fileno(),) for port, s in zip(self.ports, slot.sockets, strict=True)
        }
        spec = WorkerSpec(slot.worker, len(self.slots), settings, listeners, child.fileno())
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "proxy.engine.worker",
                stdin=asyncio.subprocess.PIPE,
                pass_fds=(*(s.fileno() for s in slot.sockets), child.fileno()),
                process_group=0,  # a terminal's Ctrl-C reaches the supervisor only
            )
        except OSError:
            parent.close()
            raise
        finally:
            child.close()
        slot.process = process
        reader, slot.control = await asyncio.open_connection(sock=parent)
        if process.stdin is not None:
            try:
                process.stdin.write(spec.dumps())
                await process.stdin.drain()
                process.stdin.close()
            except (BrokenPipeError, ConnectionResetError):
                pass  # it died at once: process.wait() says how
        self._tasks.add(task := asyncio.create_task(self._listen(slot, reader)))
        task.add_done_callback(self._tasks.discard)
        return process

    async def _listen(self, slot: Slot, reader: asyncio.StreamReader) -> None:
        """The worker's messages: one JSON line when it is ready."""
        with contextlib.suppress(OSError, ValueError):
            async for line in reader:
                event = json.loads(line)
                if event.get("event") == "ready":
                    slot.admin = str(event.get("admin") or "")
                    slot.ready = True
                    self._changed.set()
                    if self._announced:
                        log.info("worker %d (pid %s) ready", slot.worker, event.get("pid"))

    def _ended(self, slot: Slot) -> None:
        slot.ready = False
        slot.admin = None
        self.totals.retire(slot.last)
        slot.last = {}
        if slot.control is not None:
            slot.control.close()
            slot.control = None
        self._changed.set()

    async def _scrape_regularly(self, admin: WorkersAdmin) -> None:
        while True:
            await asyncio.sleep(SCRAPE_EVERY)
            with contextlib.suppress(Exception):
                await admin.scrape()

    async def _shutdown(self, keepers: list[asyncio.Task[None]]) -> None:
        """Drain every worker, then close what the supervisor holds."""
        self.draining = True
        self._stopping.set()
        for slot in self.slots:  # no new connections once the workers close theirs
            for sock in slot.sockets:
                sock.close()
        self._signal_all(signal.SIGTERM)
        limit = self.settings.shutdown_timeout + STOP_GRACE
        if keepers:
            _, pending = await asyncio.wait(keepers, timeout=limit)
            if pending:
                log.error("workers still running %g s after SIGTERM: killed", limit)
                self._signal_all(signal.SIGKILL)
                await asyncio.wait(pending, timeout=5)


def _describe(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def worker_logs(settings: Settings) -> list[Path]:
    """The access-log files the workers write."""
    return [worker_log(Path(settings.log), i) for i in range(1, settings.workers + 1)]


async def serve(settings: Settings, announce: Announce) -> None:
    """The supervisor's start-up checks (for every worker's files), then `Supervisor.run`."""
    refused = problems(settings)
    if not refused:
        state = preflight.state_problem(settings.state)
        refused += [state] if state else []
        if settings.admin is not None:
            where = "--admin / OPTOUT_ADMIN"
            admin = preflight.port_problem("admin address", where, *settings.admin)
            refused += [admin] if admin else []
    if refused:
        raise SettingsError("\n".join(refused))
    await Supervisor(settings, announce).run()
