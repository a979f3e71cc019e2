"""The Sites addon routes with mitmproxy's test flows: the Host is kept, refusals are 421."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from mitmproxy.test import taddons, tflow
from paths import RULES

from addons.sites import Refusal, Sites, choose, send_to
from addons.sitetls import SiteTls
from proxy.config.sites import parse_upstream
from proxy.engine.pipeline import RULESET, VERDICT, Pipeline
from proxy.ruleset import Ruleset, load_rules
from proxy.store.logwriter import LogWriter

SITES = (
    "sites:\n"
    "  - {hosts: [a.test], upstream: 'http://127.0.0.1:8001', default: true}\n"
    "  - {hosts: ['*.b.test'], upstream: 'https://10.0.0.6:8443', policy: policy-b.yaml}\n"
)


@pytest.fixture
def ruleset(tmp_path: Path) -> Ruleset:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    shutil.copy(rules / "policy.yaml", rules / "policy-b.yaml")
    (rules / "sites.yaml").write_text(SITES)
    return load_rules(rules)


def _flow(host: str, *, version: str = "HTTP/1.1", authority: str = "") -> tflow.HTTPFlow:
    flow = tflow.tflow()
    flow.request.http_version = version
    flow.request.authority = authority
    flow.request.headers["host"] = host
    flow.client_conn.timestamp_tls_setup = None  # plain http unless a test says otherwise
    return flow


def test_a_request_goes_to_its_site_with_its_host(ruleset: Ruleset, tmp_path: Path) -> None:
    pipeline = Pipeline(ruleset, LogWriter(str(tmp_path / "log")))
    try:
        flow = _flow("shop.b.test")
        Sites(pipeline).requestheaders(flow)
        request = flow.request
        assert (request.scheme, request.host, request.port) == ("https", "10.0.0.6", 8443)
        assert request.headers["host"] == "shop.b.test"
        assert flow.metadata[RULESET].policy_file == "policy-b.yaml"
        refused = _flow("c.test")
        Sites(pipeline).requestheaders(refused)
        assert refused.response is not None
        assert refused.response.status_code == 421
        assert refused.metadata[VERDICT].rule == "sites/unknown-host"
        assert refused.metadata[RULESET] is ruleset  # the default site's reservation
    finally:
        pipeline.log.close()


def test_http2_keeps_its_authority() -> None:
    flow = _flow("a.test", version="HTTP/2.0", authority="a.test")
    del flow.request.headers["host"]
    send_to(flow.request, parse_upstream("http://127.0.0.1:8001"))
    assert flow.request.authority == "a.test"
    assert "host" not in flow.request.headers
    assert (flow.request.host, flow.request.port) == ("127.0.0.1", 8001)


def test_absolute_form_is_sent_in_origin_form_with_its_authority_as_host() -> None:
    flow = _flow("other.example", authority="a.test")
    send_to(flow.request, parse_upstream("http://127.0.0.1:8001"))
    assert flow.request.authority == ""
    assert flow.request.headers["host"] == "a.test"


@pytest.mark.parametrize(
    ("host", "authority", "method", "expected"),
    [
        ("a.test", "", "GET", "a.test"),
        ("", "", "GET", "a.test"),  # no Host: the default site
        ("x.b.test", "", "GET", "*.b.test"),
        ("other.example", "", "GET", Refusal(421, "unknown-host")),
        ("a.test", "other.example", "GET", Refusal(421, "absolute-form")),
        ("other.example", "a.test:80", "GET", "a.test"),
        ("a.test", "a.test:443", "CONNECT", Refusal(405, "connect")),
    ],
)
def test_choose(ruleset: Ruleset, host: str, authority: str, method: str, expected: object) -> None:
    flow = _flow(host, authority=authority)
    flow.request.method = method
    chosen = choose(ruleset, None, flow)
    assert (chosen if isinstance(chosen, Refusal) else chosen[0].name) == expected  # type: ignore[union-attr]


def test_without_sites_only_absolute_form_is_refused(ruleset: Ruleset) -> None:
    from dataclasses import replace

    single = replace(ruleset, sites=None)
    upstream = parse_upstream("http://127.0.0.1:9")
    assert choose(single, upstream, _flow("any.example")) == (None, upstream)
    assert choose(single, upstream, _flow("x", authority="x")) == Refusal(421, "absolute-form")


def test_over_tls_a_request_for_another_site_is_misdirected(ruleset: Ruleset) -> None:
    flow = _flow("x.b.test")
    flow.client_conn.timestamp_tls_setup = 1.0
    flow.client_conn.sni = "a.test"
    assert choose(ruleset, None, flow) == Refusal(421, "other-site")
    flow.client_conn.sni = "y.b.test"
    assert not isinstance(choose(ruleset, None, flow), Refusal)


def test_the_upstream_option_is_checked(ruleset: Ruleset, tmp_path: Path) -> None:
    pipeline = Pipeline(ruleset, LogWriter(str(tmp_path / "log")))
    sites = Sites(pipeline)
    try:
        with taddons.context(sites) as tctx:
            tctx.configure(sites, optout_upstream="http://127.0.0.1:9")
            assert sites.single == parse_upstream("http://127.0.0.1:9")
            with pytest.raises(Exception, match="Cannot parse optout_upstream ftp://x"):
                tctx.configure(sites, optout_upstream="ftp://x")
    finally:
        pipeline.log.close()


def test_tls_is_refused_unless_a_site_has_a_certificate_for_the_sni(
    ruleset: Ruleset, tmp_path: Path
) -> None:
    pipeline = Pipeline(ruleset, LogWriter(str(tmp_path / "log")))
    try:
        tls = SiteTls(pipeline, tmp_path, "reverse:http://127.0.0.1:8001@8443")
        flow = tflow.tflow()
        context = type("Ctx", (), {"client": flow.client_conn})()
        flow.client_conn.sni = "a.test"
        assert tls.site_for(context) is None  # the plain listener's connection  # type: ignore[arg-type]
        off = SiteTls(pipeline, tmp_path, None)
        assert off.site_for(context) is None  # type: ignore[arg-type]
    finally:
        pipeline.log.close()
