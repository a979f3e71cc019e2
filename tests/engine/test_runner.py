"""The embedded master is lean and configured for a public-facing reverse proxy."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.engine import addonchain
from proxy.engine.drain import Drain
from proxy.engine.pipeline import Pipeline
from proxy.engine.runner import Ready, build_master
from proxy.errors import SettingsError
from proxy.ruleset import Ruleset
from proxy.settings import Settings
from proxy.store.logwriter import LogWriter


async def test_master_has_only_what_a_reverse_proxy_needs(shipped: Ruleset, tmp_path: Path) -> None:
    settings = Settings("http://127.0.0.1:9", "127.0.0.1", 0, Path("rules"), "-", tmp_path / "s")
    pipeline = Pipeline(shipped, LogWriter(str(tmp_path / "log")))
    ready = Ready(lambda host, port, https: None)
    master = build_master(settings, pipeline, ready, addonchain.load(), Drain(1.0))
    try:
        names = [type(a).__name__ for a in master.addons.chain]
        assert names == [
            "Core",
            "Proxyserver",
            "NextLayer",
            "SiteTls",
            "ErrorCheck",
            "Drain",
            "ConnectionGuard",
            "Edge",
            "Limits",
            "WebSocket",
            "Sites",
            "Classify",
            "Fingerprint",
            "Verify",
            "Olp",
            "Challenge",
            "WellKnown",
            "Decide",
            "Robots",
            "Signals",
            "Charge",
            "HtmlMeta",
            "Trap",
            "Metrics",
            "AccessLog",
            "Ready",
        ]
        # Flow hooks go straight to the addons that handle them, in chain order.
        dispatch = master.addons.handle_lifecycle.__self__
        handlers = dispatch.handlers("requestheaders")
        assert [type(h.__self__).__name__ for h in handlers] == [
            "Drain",
            "ConnectionGuard",
            "Edge",
            "Sites",
            "Classify",
            "Fingerprint",
            "Verify",
            "Olp",
            "Challenge",
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


def test_the_addons_come_from_the_installed_entry_point() -> None:
    import addons

    assert addonchain.load() is addons.CHAIN


def test_without_the_entry_point_the_runner_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(addonchain, "entry_points", lambda **_: ())
    with pytest.raises(SettingsError, match="make install"):
        addonchain.load()
