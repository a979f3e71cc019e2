"""Run the proxy: an embedded mitmproxy master with only what a reverse proxy needs.

mitmdump loads about 30 default addons and offers every hook to each of them;
this master runs five engine addons plus ours, and hands each hook straight to the
addons that handle it (`proxy.engine.hookdispatch`), which is measurably faster. The
engine is configured for a public-facing reverse proxy: the client's Host is
kept, `block_global` does not exist (its addon is not loaded), the upstream is
connected lazily (a blocked request never opens a connection), and large bodies
stream.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import Callable, Coroutine
from typing import Any

from aiohttp import web
from mitmproxy import options
from mitmproxy.addons import core, errorcheck, next_layer, proxyserver
from mitmproxy.master import Master

from proxy.config.sites import SITES_FILE
from proxy.engine import addonchain, checkpointer, hookdispatch, preflight
from proxy.engine import patches as enginepatch
from proxy.engine.addonchain import AddonChain
from proxy.engine.admin import Admin, UpstreamProbe
from proxy.engine.admin import start as start_admin_server
from proxy.engine.drain import Drain
from proxy.engine.pipeline import Pipeline
from proxy.engine.reloader import Reloader
from proxy.engine.workerspec import WorkerSpec
from proxy.errors import SettingsError
from proxy.evidence.chain import head_file
from proxy.evidence.ledger import ledger_dir
from proxy.evidence.privacy import Pseudonymiser
from proxy.identity.fcrdns import FcrdnsVerifier, Resolver
from proxy.identity.ipranges import Snapshot
from proxy.identity.networks import use_saved_copies
from proxy.identity.verify import Verifier
from proxy.net.dns import DnsResolver
from proxy.net.iprefresh import IpRangeRefresher, load_saved
from proxy.net.keydir import KeyDirectory
from proxy.net.netrefresh import NetworkRefresher
from proxy.ruleset import Ruleset
from proxy.settings import Settings
from proxy.store.documents import DocumentStore
from proxy.store.keys import load_or_create_key
from proxy.store.logwriter import LogWriter
from proxy.store.redisstate import open_store
from proxy.store.shared import SharedState

log = logging.getLogger(__name__)
TASKS_GRACE = 5.0  # seconds a reload or the file watcher get to end after the master stopped


class Ready:
    """Reports the bound addresses once the listeners are up (port 0 picks a free one)."""

    def __init__(self, announce: Callable[[str, int, str | None], None]) -> None:
        """`announce(host, port, https)`: the plain listener, and the TLS one or None."""
        self.announce = announce

    def running(self) -> None:
        from mitmproxy import ctx

        servers = list(ctx.master.addons.get("proxyserver").servers)
        host, port = servers[0].listen_addrs[0][:2]
        https = None
        if len(servers) > 1:
            tls_host, tls_port = servers[1].listen_addrs[0][:2]
            https = _hostport(tls_host, tls_port)
        self.announce(host, port, https)


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def build_master(
    settings: Settings,
    pipeline: Pipeline,
    ready: Ready,
    chain: AddonChain,
    drain: Drain | None = None,
) -> Master:
    """One listener (two with --tls); each request is routed by the Sites addon."""
    opts = options.Options()
    master = Master(opts)
    listeners = modes(settings, pipeline.ruleset)
    master.addons.add(
        core.Core(),
        proxyserver.Proxyserver(),
        next_layer.NextLayer(),
        chain.tls(pipeline, settings.state, listeners[1] if len(listeners) > 1 else None),
        errorcheck.ErrorCheck(repeat_errors_on_stderr=True),
        *([drain] if drain is not None else []),
        *chain.pipeline(pipeline),
        ready,
    )
    settings.state.mkdir(parents=True, exist_ok=True)
    opts.update(
        mode=listeners,
        listen_host=settings.listen_host,
        keep_host_header=True,
        connection_strategy="lazy",
        stream_large_bodies="2m",
        http3=False,
        confdir=str(settings.state / "mitmproxy"),
        optout_upstream=settings.upstream or "",
        optout_tls_listener=listeners[1] if len(listeners) > 1 else "",
        optout_upstream_timeout=settings.upstream_timeout,
        optout_max_body=settings.max_body,
    )
    hookdispatch.install(master)
    return master


def modes(settings: Settings, ruleset: Ruleset) -> list[str]:
    """mitmproxy modes: the plain listener, and the TLS one with --tls.

    The reverse target is only a default: the Sites addon routes every request
    itself (or refuses it) before a connection is made. Without --upstream it is
    the first site's upstream.
    """
    target = settings.upstream
    if target is None:
        if ruleset.sites is None:
            raise SettingsError(
                "no upstream: give --upstream URL (OPTOUT_UPSTREAM) or list the sites in sites.yaml"
            )
        target = str(ruleset.sites.sites[0].upstream)
    found = [f"reverse:{target}@{settings.listen_port}"]
    if settings.tls_listen is not None:
        host, port = settings.tls_listen
        found.append(f"reverse:{target}@{host}:{port}")
    return found


def probed(settings: Settings, ruleset: Ruleset) -> str:
    """The upstream /readyz checks: --upstream, else the default (or first) site's."""
    if settings.upstream is not None or ruleset.sites is None:
        return settings.upstream or ""
    site = ruleset.sites.default or ruleset.sites.sites[0]
    return str(site.upstream)


def check_tls(settings: Settings, ruleset: Ruleset) -> None:
    """--tls needs at least one site with a certificate: otherwise it would refuse everyone."""
    if settings.tls_listen is not None and (ruleset.sites is None or not ruleset.sites.tls):
        raise SettingsError(
            f"--tls / OPTOUT_TLS_LISTEN needs a site with 'tls: {{cert, key}}' "
            f"in {settings.rules / SITES_FILE}"
        )


def build_verifier(
    settings: Settings,
    ruleset: Ruleset,
    resolver: Resolver | None = None,
    shared: SharedState | None = None,
) -> Verifier:
    """Crawler verification as configured: IP ranges always, DNS and signatures if on.

    `resolver` replaces the system's name servers (the demo's stub answers); `shared`
    (--store) holds the reverse-DNS verdicts of every process.
    """
    ranges = ruleset.ipranges
    if settings.ipranges_refresh:
        ranges = load_saved(settings.state, ranges)
    return Verifier(
        ranges,
        FcrdnsVerifier(resolver or DnsResolver(), shared=shared) if settings.verify_dns else None,
        KeyDirectory() if settings.web_bot_auth else None,
    )


def start_refresher(settings: Settings, verifier: Verifier) -> asyncio.Task[None] | None:
    if not settings.ipranges_refresh:
        return None

    def swap(name: str, snapshot: Snapshot) -> None:
        verifier.ipranges = verifier.ipranges.replace(name, snapshot)

    refresher = IpRangeRefresher(
        verifier.ipranges, settings.state, swap, interval=settings.ipranges_refresh
    )
    return asyncio.get_running_loop().create_task(refresher.run())


def start_network_refresher(
    settings: Settings, pipeline: Pipeline, reloader: Reloader
) -> asyncio.Task[None] | None:
    """With --ipranges-refresh, the providers' ranges too; a reload applies fetched copies."""
    if not settings.ipranges_refresh:
        return None
    saved = settings.state / "networks"
    use_saved_copies(saved)

    async def run() -> None:
        if any(saved.glob("*.txt")):  # copies fetched before this start
            await reloader.reload("saved provider ranges")
        refresher = NetworkRefresher(
            pipeline.ruleset.networks,
            settings.state,
            lambda: reloader.reload("provider ranges refreshed"),
            interval=settings.ipranges_refresh,
        )
        await refresher.run()

    return asyncio.get_running_loop().create_task(run())


# The proxy's host and port, the https listener's HOST:PORT or None, the admin URL or None.
Announce = Callable[[str, int, str | None, str | None], None]


async def serve(
    settings: Settings,
    ruleset: Ruleset,
    announce: Announce,
    resolver: Resolver | None = None,
    worker: WorkerSpec | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT, let requests in flight finish, then flush the access log.

    `worker`: this process is one of a supervisor's (--workers), which made the
    start-up checks and bound the listeners for it (proxy.engine.supervisor).
    """
    check_tls(settings, ruleset)
    refused = preflight.refusals(settings) if worker is None else []
    if refused:  # before "ready": a proxy that cannot log or listen must not say it is
        raise SettingsError("\n".join(refused))
    chain = addonchain.load()
    shared = open_store(settings.store, settings.store_timeout)
    if shared is not None:
        await shared.start()
    verifier = build_verifier(settings, ruleset, resolver, shared)
    pipeline = build_pipeline(settings, ruleset, verifier, worker.worker if worker else None)
    enginepatch.apply(
        lambda: enginepatch.reservation_headers(pipeline.ruleset.headers(True)),
        refused=chain.refused(pipeline),
    )
    if worker is not None:
        enginepatch.STATE.listeners = {
            port: [socket.socket(fileno=fd) for fd in fds] for port, fds in worker.listeners.items()
        }
    if shared is not None:
        pipeline.shared = shared
        shared.count_in(pipeline.metrics)
    log_writer = pipeline.log
    pipeline.metrics.track_log(lambda: log_writer.written, lambda: log_writer.lost)
    reloader = Reloader(
        pipeline,
        pipeline.metrics,
        [ipranges_updater(settings, verifier)],
        require_sites=settings.upstream is None,
    )
    admin = Admin(
        pipeline.metrics,
        reloader,
        UpstreamProbe(probed(settings, ruleset)),
        settings.admin_token,
        metrics_token=settings.metrics_token,
    )
    admin_runner, admin_url = await start_admin(settings, admin)
    drain = Drain(settings.shutdown_timeout)
    ready = Ready(lambda host, port, https: announce(host, port, https, admin_url))
    master = build_master(settings, pipeline, ready, chain, drain)
    stop_watching = asyncio.Event()
    tasks = Tasks()
    install_signals(master, drain, admin, reloader, tasks)
    refresher = start_refresher(settings, verifier)
    network_refresher = start_network_refresher(settings, pipeline, reloader)
    tasks.start(reloader.watch(stop_watching))
    pipeline.checkpoint_key = checkpointer.public_pem(settings.state)
    timer = checkpointer.start(settings, log_writer, pipeline.metrics)
    try:
        await master.run()
    finally:
        if timer is not None:  # the shutdown checkpoint, before the log closes
            await asyncio.to_thread(timer.stop)
        stop_watching.set()
        await tasks.finish()
        if refresher is not None:
            refresher.cancel()
        if network_refresher is not None:
            network_refresher.cancel()
        if isinstance(verifier.keys, KeyDirectory):
            await verifier.keys.close()
        if admin_runner is not None:
            await admin_runner.cleanup()
        if shared is not None:
            await shared.close()
        pipeline.log.close()
        if pipeline.ledger is not None:
            pipeline.ledger.close()
        if pipeline.log.lost:
            log.warning("%d access-log records lost", pipeline.log.lost)


def build_pipeline(
    settings: Settings, ruleset: Ruleset, verifier: Verifier, worker: int | None = None
) -> Pipeline:
    """The shared state of the addons: rules, the evidence log and its helpers.

    Worker i of --workers keeps its own chains: `chain-head-<i>.json` for its access
    log (whose file the supervisor named), `ledger-<i>.jsonl` for its charges.
    """
    settings.state.mkdir(parents=True, exist_ok=True)
    to_file = settings.log != "-"
    writer = LogWriter(
        settings.log,
        state_dir=settings.state if to_file else None,
        hmac_key=settings.log_hmac_key,
        max_bytes=settings.log_max_bytes,
        keep=settings.log_keep,
        head_file=head_file(worker),
        worker=worker,
    )
    ledger = "ledger.jsonl" if worker is None else f"ledger-{worker}.jsonl"
    private = settings.log_privacy != "off"
    return Pipeline(
        ruleset,
        writer,
        verifier,
        settings.trusted_proxies,
        shadow=settings.shadow,
        privacy=settings.log_privacy,
        pseudonymiser=Pseudonymiser(load_or_create_key(settings.state)) if private else None,
        documents=DocumentStore(settings.state),
        headersets=DocumentStore(settings.state, "headersets"),
        ledger=LogWriter(
            str(ledger_dir(settings.state) / ledger),
            state_dir=ledger_dir(settings.state),
            hmac_key=settings.log_hmac_key,
            head_file=head_file(worker),
            worker=worker,
        ),
        state_dir=settings.state,
        max_connections=settings.max_connections,
        head_timeout=settings.head_timeout,
        idle_timeout=settings.idle_timeout,
        ja4_header=settings.ja4_header,
        worker=worker,
    )


def ipranges_updater(settings: Settings, verifier: Verifier) -> Callable[[Ruleset], None]:
    """After a reload, verify against the new rules' IP ranges (or their refreshed copies)."""

    def update(ruleset: Ruleset) -> None:
        ranges = ruleset.ipranges
        verifier.ipranges = (
            load_saved(settings.state, ranges) if settings.ipranges_refresh else ranges
        )

    return update


async def start_admin(settings: Settings, admin: Admin) -> tuple[web.AppRunner | None, str | None]:
    if settings.admin is None:
        return None, None
    host, port = settings.admin
    try:
        return await start_admin_server(admin, host, port)
    except OSError as e:  # taken between the preflight and now
        problem = preflight.port_problem("admin address", "--admin / OPTOUT_ADMIN", host, port)
        raise SettingsError(problem or f"admin address (--admin / OPTOUT_ADMIN): {e}") from None


def install_signals(
    master: Master, drain: Drain, admin: Admin, reloader: Reloader, tasks: Tasks
) -> None:
    """SIGTERM/SIGINT drain then stop (a second one stops at once); SIGHUP reloads."""
    loop = asyncio.get_running_loop()

    def stop() -> None:
        if drain.draining:
            master.shutdown()
            return
        admin.draining = True
        tasks.start(drain.drain(master.addons.get("proxyserver"), master.shutdown))

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    loop.add_signal_handler(signal.SIGHUP, lambda: tasks.start(reloader.reload("signal")))


class Tasks:
    """Background tasks started from signal handlers, kept referenced until they end."""

    def __init__(self) -> None:
        self.running: set[asyncio.Task[Any]] = set()

    def start(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self.running.add(task)
        task.add_done_callback(self.running.discard)

    async def finish(self) -> None:
        """Wait a little for the tasks to end, then cancel what is left."""
        if self.running:
            _, pending = await asyncio.wait(self.running, timeout=TASKS_GRACE)
            for task in pending:
                task.cancel()
