"""Configuring the licence server: `licences.server`, `rsl.server`, and what each changes."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest
from ruamel.yaml import YAML

from proxy.config import yamlsource
from proxy.config.licences import NO_SERVER, Licences, parse_licences
from proxy.config.reservation import parse_reservation
from proxy.licensing import jwttokens
from proxy.licensing.olp import Server
from proxy.signals.wellknown import rsl_document


def _licences(doc: str) -> tuple[Licences, list[str]]:
    report = yamlsource.Report("policy.yaml")
    found = parse_licences(YAML(typ="rt").load(doc), report, 1)
    return found, [str(p) for p in report.problems]


def test_server_names_issuer_audience_and_endpoints() -> None:
    licences, problems = _licences("server: https://Label.example/olp/\n")
    assert problems == []
    assert licences.server == Server("https://label.example/olp", "https://label.example", "/olp")
    assert licences.configured
    assert licences.serves("/olp/token")
    assert not licences.serves("/olp")
    assert not Licences().serves("/olp/token")


@pytest.mark.parametrize(
    "value", ["ftp://label.example/olp", "/olp", "https://label.example/olp?x=1", "https://#f"]
)
def test_bad_server(value: str) -> None:
    licences, problems = _licences(f"server: '{value}'\n")
    assert licences.server is None
    assert len(problems) == 1
    assert "licences.server" in problems[0]
    assert "line 1" in problems[0] or ":1" in problems[0]


def test_a_jwt_without_a_server_is_refused() -> None:
    keys = jwttokens.KeySet([jwttokens.generate_key()])
    token, _ = jwttokens.issue(
        keys, issuer="i", audience="a", client_id="c", licensee="L", usage=["ai-train"],
        paths=["/"], agents=["*"], now=1.0, lifetime=60,
    )  # fmt: skip
    assert Licences().check(f"License {token}", "GPTBot", "/", 2.0) == NO_SERVER


def _reservation(doc: str) -> tuple[object, list[str]]:
    report = yamlsource.Report("policy.yaml")
    found = parse_reservation(YAML(typ="rt").load(doc), report, 1)
    return found, [str(p) for p in report.problems]


def test_rsl_server_goes_on_reserved_content_only() -> None:
    doc = """\
reserved: true
rsl: {path: /license.xml, server: https://label.example/olp}
overrides:
  - {name: press, path: /press/, reserved: false}
"""
    reservation, problems = _reservation(doc)
    assert problems == []
    root = ElementTree.fromstring(rsl_document(reservation, "Label"))  # type: ignore[arg-type]
    servers = {c.get("url"): c.get("server") for c in root}
    assert servers == {"/press/": None, "/": "https://label.example/olp"}


def test_bad_rsl_server() -> None:
    reservation, problems = _reservation("rsl: {path: /license.xml, server: not a url}\n")
    assert reservation.rsl_server is None  # type: ignore[attr-defined]
    assert len(problems) == 1
    assert "reservation.rsl" in problems[0]
    assert "server" in problems[0]
