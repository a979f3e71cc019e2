"""The embedded master is lean and configured for a public-facing reverse proxy."""

from __future__ import annotations

from pathlib import Path

from proxy.logwriter import LogWriter
from proxy.net.drain import Drain
from proxy.pipeline import Pipeline
from proxy.ruleset import Ruleset
from proxy.runner import Ready, build_master
from proxy.settings import Settings


async def test_master_has_only_what_a_reverse_proxy_needs(shipped: Ruleset, tmp_path: Path) -> None:
    settings = Settings("http://127.0.0.1:9", "127.0.0.1", 0, Path("rules"), "-", tmp_path / "s")
    pipeline = Pipeline(shipped, LogWriter(str(tmp_path / "log")))
    master = build_master(settings, pipeline, Ready(lambda host, port, https: None), Drain(1.0))
    try:
        names = [type(a).__name__ for a in master.addons.chain]
        assert names == [
            "Core",
            "Proxyserver",
            "NextLayer",
            "SiteTls",
            "ErrorCheck",
            "Drain",
            "Limits",
            "WebSocket",
            "Sites",
            "Classify",
            "Verify",
            "WellKnown",
            "Decide",
            "Robots",
            "Signals",
            "Charge",
            "HtmlMeta",
            "Metrics",
            "AccessLog",
            "Ready",
        ]
        # Flow hooks go straight to the addons that handle them, in chain order.
        dispatch = master.addons.handle_lifecycle.__self__
        handlers = dispatch.handlers("requestheaders")
        assert [type(h.__self__).__name__ for h in handlers] == [
            "Drain",
            "Sites",
            "Classify",
            "Verify",
            "WellKnown",
            "Decide",
        ]
        # No Block addon, so no block_global: clients from public addresses are served.
        assert master.addons.get("block") is None
        assert "block_global" not in master.options
        opts = master.options
        assert opts.keep_host_header is True
        assert opts.connection_strategy == "lazy"
        assert opts.mode == ["reverse:http://127.0.0.1:9@0"]
        assert opts.confdir == str(tmp_path / "s" / "mitmproxy")
        assert opts.stream_large_bodies == "2m"
        assert opts.optout_upstream == "http://127.0.0.1:9"
        assert opts.optout_tls_listener == ""  # no --tls: no https listener to police
    finally:
        pipeline.log.close()
