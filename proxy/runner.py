"""Run the proxy: an embedded mitmproxy master with only what a reverse proxy needs.

mitmdump loads about 30 default addons and offers every hook to each of them;
this master runs five engine addons plus ours, which is measurably faster. The
engine is configured for a public-facing reverse proxy: the client's Host is
kept, `block_global` does not exist (its addon is not loaded), the upstream is
connected lazily (a blocked request never opens a connection), and large bodies
stream.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable

from mitmproxy import options
from mitmproxy.addons import core, errorcheck, next_layer, proxyserver, tlsconfig
from mitmproxy.master import Master

from addons import default_addons
from proxy.fcrdns import FcrdnsVerifier
from proxy.ipranges import Snapshot
from proxy.logwriter import LogWriter
from proxy.net.dns import DnsResolver
from proxy.net.iprefresh import IpRangeRefresher, load_saved
from proxy.net.keydir import KeyDirectory
from proxy.pipeline import Pipeline
from proxy.ruleset import Ruleset, load_rules
from proxy.settings import Settings, parse_listen, resolve
from proxy.verify import Verifier


class Ready:
    """Reports the bound address once the listener is up (port 0 picks a free one)."""

    def __init__(self, announce: Callable[[str, int], None]) -> None:
        self.announce = announce

    def running(self) -> None:
        from mitmproxy import ctx

        server = ctx.master.addons.get("proxyserver")
        host, port = server.listen_addrs()[0][:2]
        self.announce(host, port)


def build_master(settings: Settings, pipeline: Pipeline, ready: Ready) -> Master:
    opts = options.Options()
    master = Master(opts)
    master.addons.add(
        core.Core(),
        proxyserver.Proxyserver(),
        next_layer.NextLayer(),
        tlsconfig.TlsConfig(),
        errorcheck.ErrorCheck(repeat_errors_on_stderr=True),
        *default_addons(pipeline),
        ready,
    )
    settings.state.mkdir(parents=True, exist_ok=True)
    opts.update(
        mode=[f"reverse:{settings.upstream}@{settings.listen_port}"],
        listen_host=settings.listen_host,
        keep_host_header=True,
        connection_strategy="lazy",
        stream_large_bodies="2m",
        http3=False,
        confdir=str(settings.state / "mitmproxy"),
    )
    return master


def build_verifier(settings: Settings, ruleset: Ruleset) -> Verifier:
    """Crawler verification as configured: IP ranges always, DNS and signatures if on."""
    ranges = ruleset.ipranges
    if settings.ipranges_refresh:
        ranges = load_saved(settings.state, ranges)
    return Verifier(
        ranges,
        FcrdnsVerifier(DnsResolver()) if settings.verify_dns else None,
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


async def serve(settings: Settings, ruleset: Ruleset, announce: Callable[[str, int], None]) -> None:
    """Serve until SIGTERM or SIGINT, then flush the access log."""
    verifier = build_verifier(settings, ruleset)
    pipeline = Pipeline(ruleset, LogWriter(settings.log), verifier, settings.trusted_proxies)
    master = build_master(settings, pipeline, Ready(announce))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, master.shutdown)
    refresher = start_refresher(settings, verifier)
    try:
        await master.run()
    finally:
        if refresher is not None:
            refresher.cancel()
        if isinstance(verifier.keys, KeyDirectory):
            await verifier.keys.close()
        pipeline.log.close()
        if pipeline.log.lost:
            print(f"optout: {pipeline.log.lost} access-log records lost", file=sys.stderr)


def run_demo(args: argparse.Namespace) -> int:
    """`optout demo`: the demo label site on loopback with the proxy in front of it."""
    from proxy.demo import bound_port
    from proxy.demo import serve as serve_site

    async def main() -> None:
        site_host, site_port = parse_listen(args.site)
        site = await serve_site(site_host, site_port)
        upstream = f"http://{site_host}:{bound_port(site)}"
        try:
            settings = resolve({**vars(args), "upstream": upstream})
            ruleset = load_rules(settings.rules)

            def announce(host: str, port: int) -> None:
                base = f"http://{host}:{port}"
                print(
                    f"optout-proxy demo: the label site {upstream} is behind {base}\n"
                    f"  open {base}/ in a browser, or try:\n"
                    f"  curl -si -A 'Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0' {base}/\n"
                    f"  curl -si -A 'Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; "
                    f"compatible; GPTBot/1.2; +https://openai.com/gptbot)' {base}/\n"
                    f"  Ctrl-C stops it.",
                    file=sys.stderr,
                    flush=True,
                )

            await serve(settings, ruleset, announce)
        finally:
            await site.cleanup()

    asyncio.run(main())
    return 0
