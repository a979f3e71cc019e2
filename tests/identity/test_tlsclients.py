"""rules/tls/clients.yaml: the shipped table loads clean and names the clients it was made from."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from paths import RULES
from ruamel.yaml import YAML

from proxy.errors import RuleError
from proxy.identity.tlsclients import CLIENTS_FILE, TlsClient, load_clients, lookup
from proxy.ruleset import load_rules

SHIPPED = RULES / CLIENTS_FILE


def test_shipped_table_loads_without_problems() -> None:
    problems: list = []
    table = load_clients(SHIPPED, problems)
    assert problems == []
    kinds = {client.kind for client in table.values()}
    assert kinds == {"browser", "library", "tool"}


@pytest.mark.parametrize(
    ("ja4", "family", "kind"),
    [
        ("t13d1516h2_8daaf6152771_e5627efa2ab1", "chromium", "browser"),  # JA4.md's example
        ("t13d1715h2_5b57614c22b0_7121afd63204", "firefox", "browser"),
        ("t13d2014h2_a09f3c656075_14788d8d241b", "safari", "browser"),
        ("t13d4312h1_c7886603b240_b26ce05bbdd6", "python", "library"),
    ],
)
def test_shipped_table_names_known_clients(ja4: str, family: str, kind: str) -> None:
    assert load_clients(SHIPPED, [])[ja4] == TlsClient(family, kind)


def test_a_client_without_sni_is_the_same_client() -> None:
    table = load_clients(SHIPPED, [])
    assert lookup(table, "t13i1515h2_8daaf6152771_e5627efa2ab1") == TlsClient("chromium", "browser")
    assert lookup(table, "t13i1515h2_000000000000_e5627efa2ab1") is None


def test_missing_file_is_an_empty_table(tmp_path: Path) -> None:
    assert dict(load_clients(tmp_path / "none.yaml", [])) == {}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("- ja4: nope\n    family: x\n    kind: tool", "ja4 must look like"),
        ("- ja4: t13d_a_b\n    kind: tool", "family must be"),
        ("- ja4: t13d_a_b\n    family: x\n    kind: robot", "kind must be one of"),
        (
            "- ja4: t13d_a_b\n    family: x\n    kind: tool\n"
            "  - ja4: t13d_a_b\n    family: y\n    kind: tool",
            "listed twice",
        ),
        ("- just text", "must be a mapping"),
    ],
    ids=["ja4", "family", "kind", "twice", "not-mapping"],
)
def test_problems_are_located(tmp_path: Path, entry: str, message: str) -> None:
    path = tmp_path / "clients.yaml"
    path.write_text(f"clients:\n  {entry}\n", encoding="utf-8")
    problems: list = []
    load_clients(path, problems)
    assert len(problems) == 1
    assert message in problems[0].message
    assert problems[0].line is not None


def test_not_a_table(tmp_path: Path) -> None:
    path = tmp_path / "clients.yaml"
    path.write_text("- a\n", encoding="utf-8")
    problems: list = []
    assert dict(load_clients(path, problems)) == {}
    assert "clients:" in problems[0].message


def test_a_broken_table_stops_the_rules_from_loading(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    (rules / CLIENTS_FILE).write_text("clients:\n  - ja4: bad\n", encoding="utf-8")
    with pytest.raises(RuleError, match="clients.yaml:2: ja4 must look like"):
        load_rules(rules)


@pytest.mark.parametrize(
    ("seen", "family", "kind"),
    [
        ("python-httpx", "python", "library"),
        ("chromium", "chromium", "browser"),  # headed, on a virtual display
        ("chromium-headless", "chromium", "browser"),
        ("curl-cffi-firefox135", "firefox", "browser"),
        ("curl-cffi-firefox144", "firefox", "browser"),
        ("go-net-http", "go", "library"),  # kept when regenerated where Go is missing
    ],
)
def test_the_table_holds_the_clients_the_script_drives(seen: str, family: str, kind: str) -> None:
    """scripts/tls_fingerprints.py captured these through the proxy (their `seen` names)."""
    entries = YAML(typ="safe").load(SHIPPED.read_text())["clients"]
    (entry,) = [e for e in entries if seen in e["seen"]]
    assert (entry["family"], entry["kind"]) == (family, kind)
    assert load_clients(SHIPPED, [])[entry["ja4"]] == TlsClient(family, kind)


def test_headed_and_headless_chromium_send_one_fingerprint() -> None:
    entries = YAML(typ="safe").load(SHIPPED.read_text())["clients"]
    (headed,) = [e for e in entries if "chromium" in e["seen"]]
    assert "chromium-headless" in headed["seen"]
