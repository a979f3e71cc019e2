"""The trap and the fingerprint addons: served, sprung, flagged, kept over a reload, logged."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest
from flows import make_flow, records, run, upstream_response
from mitmproxy.test import taddons

from addons import default_addons
from proxy.config.rule import Rule
from proxy.config.trap import Trap
from proxy.engine.pipeline import REQUEST, Pipeline
from proxy.model import Action
from proxy.ruleset import Ruleset
from proxy.store.documents import DocumentStore
from proxy.store.logwriter import LogWriter

TRAP = "/catalogue/all-x1"
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
PAGE = b"<html><head><title>x</title></head><body><p>la</p></body></html>"
LIBRARY_JA4 = "t13d4312h1_c7886603b240_b26ce05bbdd6"  # python, in rules/tls/clients.yaml


def trapped(shipped: Ruleset) -> Ruleset:
    block = Rule("block-flagged", Action.BLOCK, flagged=frozenset({"trap"}))
    policy = dataclasses.replace(
        shipped.policy, trap=Trap(TRAP, 3600), rules=(block, *shipped.policy.rules)
    )
    return dataclasses.replace(shipped, policy=policy, _robots={})


@pytest.fixture
def pipe(shipped: Ruleset, tmp_path: Path) -> Iterator[Pipeline]:
    p = Pipeline(
        trapped(shipped),
        LogWriter(str(tmp_path / "access.jsonl")),
        trusted_proxies=(ipaddress.ip_network("127.0.0.1/32"),),
        ja4_header="x-ja4",
        html_limit=100_000,
        documents=DocumentStore(tmp_path),
    )
    with taddons.context(*default_addons(p)):
        yield p
    p.log.close()


def fetch(addons: list, path: str, ua: str = CHROME, peer: str = "127.0.0.1", **headers: str):
    flow = make_flow(ua, path, accept="text/html")
    flow.client_conn.peername = (peer, 40000)
    for name, value in headers.items():
        flow.request.headers[name.replace("_", "-")] = value
    body = b"User-agent: *\nDisallow: /private/\n" if path == "/robots.txt" else PAGE
    kind = "text/plain" if path == "/robots.txt" else "text/html"
    run(addons, flow, lambda f: upstream_response(f, kind, body))
    return flow


def test_trap_hit_is_logged_with_the_robots_served_then_blocked(pipe: Pipeline) -> None:
    addons = default_addons(pipe)
    robots = fetch(addons, "/robots.txt")
    assert f"Disallow: {TRAP}" in robots.response.text
    hit = fetch(addons, TRAP)
    after = fetch(addons, "/music/")
    other = fetch(addons, "/music/", peer="192.0.2.7")
    assert hit.response.status_code == 403
    assert after.response.status_code == 403
    assert other.response.status_code == 200
    served, trap, blocked, allowed = records(pipe)
    assert trap["optout"]["trap"] == "hit"
    assert trap["optout"]["trap_robots"]["sha256"] == served["optout"]["served"]["sha256"]
    assert blocked["optout"]["rule"] == "block-flagged"
    assert blocked["optout"]["flagged"] == ["trap"]
    assert "trap" not in blocked["optout"]
    assert "flagged" not in allowed["optout"]


def test_flags_survive_a_reload(pipe: Pipeline, shipped: Ruleset) -> None:
    addons = default_addons(pipe)
    fetch(addons, TRAP)
    pipe.ruleset = trapped(shipped)  # what the reloader does
    assert fetch(addons, "/").response.status_code == 403


def test_pages_get_one_hidden_link(pipe: Pipeline) -> None:
    page = fetch(default_addons(pipe), "/")
    body = page.response.content
    assert body.count(TRAP.encode()) == 1
    assert body.replace(body[body.index(b"<a href") : body.index(b"</a>") + 4], b"").endswith(
        b"<p>la</p></body></html>"
    )


def test_no_trap_in_the_policy_no_link(pipe: Pipeline, shipped: Ruleset) -> None:
    pipe.ruleset = shipped
    page = fetch(default_addons(pipe), "/")
    assert b"all-x1" not in page.response.content


def test_ja4_from_a_trusted_proxy_names_the_client(pipe: Pipeline) -> None:
    flow = fetch(default_addons(pipe), "/", x_ja4=LIBRARY_JA4)
    request = flow.metadata[REQUEST]
    assert request.ja4 == LIBRARY_JA4
    assert request.client_family == "python"
    assert "ua-tls-mismatch" in request.signals
    (record,) = records(pipe)
    assert record["tls"]["client"]["ja4"] == LIBRARY_JA4
    assert "ua-tls-mismatch" in record["optout"]["signals_seen"]


def test_ja4_header_from_anyone_else_is_ignored(pipe: Pipeline) -> None:
    flow = fetch(default_addons(pipe), "/", peer="192.0.2.7", x_ja4=LIBRARY_JA4)
    assert flow.metadata[REQUEST].ja4 == ""


BROWSER_JA4 = "t13d1516h2_8daaf6152771_02713d6af862"  # Chromium, in rules/tls/clients.yaml


@pytest.mark.parametrize(
    ("ja4", "status"), [(LIBRARY_JA4, 403), (BROWSER_JA4, 200)], ids=["library", "browser"]
)
def test_a_library_ja4_is_flagged_with_the_address_a_browser_ja4_is_not(
    pipe: Pipeline, ja4: str, status: int
) -> None:
    addons = default_addons(pipe)
    fetch(addons, TRAP, x_ja4=ja4, x_forwarded_for="198.51.100.1")
    again = fetch(addons, "/", x_ja4=ja4, x_forwarded_for="198.51.100.2")
    assert again.response.status_code == status
    assert fetch(addons, "/", x_forwarded_for="198.51.100.1").response.status_code == 403
