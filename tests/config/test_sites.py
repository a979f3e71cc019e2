"""rules/sites.yaml: validation with located messages, host matching, and loading with the rules.

Fixtures are in tests/data/sites/{good,bad}; each bad one starts with
`# expect: <regex>`, matched against the problems (a leading ':' means right
after the file name). They run in a rules directory made per test, with
certificates from a test CA.
"""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from paths import RULES
from tlscerts import make_ca, make_leaf, write_leaf

from proxy.config.certificates import covers, load_certificate
from proxy.config.sites import Site, Sites, host_of, load_sites, parse_upstream
from proxy.engine.pipeline import Pipeline
from proxy.engine.reloader import Reloader, rules_version
from proxy.errors import Problem, RuleError
from proxy.ops.metrics import Metrics
from proxy.ruleset import load_rules

DATA = Path(__file__).parents[1] / "data" / "sites"


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    """A copy of the shipped rules with a second policy and certificates under certs/."""
    directory = tmp_path / "rules"
    shutil.copytree(RULES, directory)
    shutil.copy(directory / "policy.yaml", directory / "policy-shop.yaml")
    ca = make_ca()
    certs = directory / "certs"
    write_leaf(ca, certs, "label", ["label.example", "www.label.example"])
    write_leaf(ca, certs, "shop", ["*.shop.label.example"])
    _, key = make_leaf(ca, ["x.example"])
    encrypted = serialization.BestAvailableEncryption(b"secret")
    pkcs8 = serialization.PrivateFormat.PKCS8
    pem = serialization.Encoding.PEM
    (certs / "encrypted.key").write_bytes(key.private_bytes(pem, pkcs8, encrypted))
    return directory


def _expectation(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path} must start with '# expect: <regex>'"
    return first.removeprefix("# expect: ")


def _load(fixture: Path, rules: Path) -> tuple[Sites | None, list[Problem], Path]:
    path = rules / "sites.yaml"
    shutil.copy(fixture, path)
    problems: list[Problem] = []
    return load_sites(path, rules, problems), problems, path


@pytest.mark.parametrize("fixture", sorted((DATA / "bad").glob("*.yaml")), ids=lambda p: p.stem)
def test_bad_sites_are_reported_with_location(fixture: Path, rules: Path) -> None:
    sites, problems, path = _load(fixture, rules)
    messages = "\n".join(str(p) for p in problems)
    expect = _expectation(fixture)
    pattern = re.escape(str(path)) + expect if expect.startswith(":") else expect
    assert re.search(pattern, messages), f"expected {pattern!r} in:\n{messages}"
    assert sites is None


@pytest.mark.parametrize("fixture", sorted((DATA / "good").glob("*.yaml")), ids=lambda p: p.stem)
def test_good_sites_load_without_problems(fixture: Path, rules: Path) -> None:
    sites, problems, _ = _load(fixture, rules)
    assert problems == []
    assert sites is not None
    assert sites.sites


def test_the_full_example_means_what_it_says(rules: Path) -> None:
    sites, _, _ = _load(DATA / "good" / "full.yaml", rules)
    assert sites is not None
    label, shop = sites.sites
    assert label.hosts == ("label.example", "www.label.example")
    assert str(label.upstream) == "http://10.0.0.5:8000"
    assert label.policy == "policy.yaml"
    assert label.default
    assert label.tls is not None
    assert label.tls.names == ("label.example", "www.label.example")
    assert (shop.policy, shop.tls, shop.default) == ("policy-shop.yaml", None, False)
    assert str(shop.upstream) == "https://10.0.0.6:8443"
    assert sites.default is label
    assert sites.tls
    assert sites.warnings == ()


def _site(*hosts: str) -> Site:
    return Site(hosts, parse_upstream("http://127.0.0.1"))


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("label.example", "exact"),
        ("www.label.example", "wild"),
        ("a.b.label.example", "wild"),
        ("shop.label.example", "shop"),  # exact beats wildcard
        ("x.shop.label.example", "shop-wild"),  # the longer wildcard wins
        ("label.example.evil", None),
        ("evillabel.example", None),
        ("", None),
    ],
)
def test_hosts_match_exactly_then_by_the_most_specific_wildcard(
    host: str, expected: str | None
) -> None:
    table = {
        "exact": _site("label.example"),
        "wild": _site("*.label.example"),
        "shop": _site("shop.label.example"),
        "shop-wild": _site("*.shop.label.example"),
    }
    sites = Sites.of(tuple(table.values()))
    found = sites.match(host)
    assert found is (table[expected] if expected else None)


@pytest.mark.parametrize(
    ("header", "host"),
    [
        ("Label.Example", "label.example"),
        ("label.example:8080", "label.example"),
        ("label.example.", "label.example"),
        ("[::1]:8080", "::1"),
        ("", ""),
    ],
)
def test_host_of_a_header(header: str, host: str) -> None:
    assert host_of(header) == host


@pytest.mark.parametrize(
    ("name", "host", "covered"),
    [
        ("label.example", "label.example", True),
        ("*.label.example", "www.label.example", True),
        ("*.label.example", "*.label.example", True),
        ("*.label.example", "a.b.label.example", False),
        ("*.label.example", "label.example", False),
        ("label.example", "*.label.example", False),
    ],
)
def test_certificate_names_cover_hosts_as_clients_check_them(
    name: str, host: str, covered: bool
) -> None:
    assert covers(name, host) is covered


def test_certificates_warn_about_uncovered_names_and_expiry(rules: Path) -> None:
    certs = rules / "certs"
    write_leaf(make_ca(), certs, "old", ["label.example"], expired=True)
    cert = load_certificate(certs / "old.pem", certs / "old.key")
    assert cert.check(("label.example",)) == [
        f"the certificate {certs / 'old.pem'} expired on {cert.not_after:%Y-%m-%d}"
    ]
    fresh = load_certificate(certs / "label.pem", certs / "label.key")
    later = datetime.now(UTC) + timedelta(days=1)
    assert fresh.check(("shop.example",), later) == [
        f"the certificate {certs / 'label.pem'} does not cover 'shop.example'"
    ]
    (rules / "sites.yaml").write_text(
        "sites:\n  - hosts: [shop.example]\n    upstream: http://127.0.0.1\n"
        "    tls: {cert: certs/label.pem, key: certs/label.key}\n"
    )
    ruleset = load_rules(rules)
    assert [str(w) for w in ruleset.warnings if w.field == "tls"] == [
        f'{rules / "sites.yaml"}:4: site 1 ("shop.example"): tls: '
        f"the certificate {certs / 'label.pem'} does not cover 'shop.example'"
    ]


def test_without_sites_yaml_the_rules_are_as_before(rules: Path) -> None:
    ruleset = load_rules(rules)
    assert ruleset.sites is None
    assert ruleset.policy_file == "policy.yaml"
    assert load_rules(rules, "policy-shop.yaml").policy_file == "policy-shop.yaml"


def test_each_site_gets_its_own_ruleset_sharing_the_catalogue(rules: Path) -> None:
    shutil.copy(DATA / "good" / "full.yaml", rules / "sites.yaml")
    ruleset = load_rules(rules)
    assert ruleset.sites is not None
    label, shop = ruleset.sites.sites
    assert ruleset.for_site(label) is ruleset
    shop_rules = ruleset.for_site(shop)
    assert shop_rules.policy_file == "policy-shop.yaml"
    assert shop_rules.catalogue is ruleset.catalogue
    assert shop_rules.ipranges is ruleset.ipranges


def test_a_bad_site_policy_is_a_rules_error(rules: Path) -> None:
    shutil.copy(DATA / "good" / "full.yaml", rules / "sites.yaml")
    (rules / "policy-shop.yaml").write_text("default: maybe\n")
    with pytest.raises(RuleError, match=r"policy-shop.yaml:1: default: unknown action"):
        load_rules(rules)


async def test_a_reload_picks_up_sites_and_refuses_to_lose_them(
    rules: Path, tmp_path: Path
) -> None:
    from proxy.store.logwriter import LogWriter

    pipeline = Pipeline(load_rules(rules), LogWriter(str(tmp_path / "log")))
    try:
        before = rules_version(rules)
        shutil.copy(DATA / "good" / "full.yaml", rules / "sites.yaml")
        assert rules_version(rules) != before
        reloader = Reloader(pipeline, Metrics(), require_sites=True)
        assert (await reloader.reload("test")).ok
        assert pipeline.ruleset.sites is not None
        (rules / "sites.yaml").unlink()
        result = await reloader.reload("test")
        assert not result.ok
        assert "sites.yaml: missing" in result.errors[0]
        assert pipeline.ruleset.sites is not None  # the sites in force keep serving
    finally:
        pipeline.log.close()
