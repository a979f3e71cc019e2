"""Pseudonymous client addresses: keyed, stable, and only for requests that claim no agent."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from proxy.evidence.privacy import Pseudonymiser, apply_privacy, parse_mode
from proxy.store.keys import load_or_create_key

KEY = bytes(range(32))


def test_a_pseudonym_is_stable_short_and_keyed() -> None:
    one = Pseudonymiser(KEY).pseudonym("203.0.113.9")
    assert one == Pseudonymiser(KEY).pseudonym("203.0.113.9")
    assert one.startswith("anon-")
    assert len(one) == 5 + 16
    assert one != Pseudonymiser(KEY).pseudonym("203.0.113.10")
    assert one != Pseudonymiser(bytes(32)).pseudonym("203.0.113.9")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("203.0.113.9", "::ffff:203.0.113.9"),
        ("2001:db8::1", "2001:0DB8:0000:0000:0000:0000:0000:0001"),
        (" 203.0.113.9 ", "203.0.113.9"),
        ("Not-An-IP", "not-an-ip"),
    ],
)
def test_one_address_has_one_pseudonym_however_it_is_written(a: str, b: str) -> None:
    p = Pseudonymiser(KEY)
    assert p.pseudonym(a) == p.pseudonym(b)


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        Pseudonymiser(b"short")


def test_the_key_is_created_once_and_private(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path / "state")
    path = tmp_path / "state" / "pseudonym.key"
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(tmp_path / "state") == key
    path.write_bytes(b"tiny")
    with pytest.raises(ValueError, match="holds 4 bytes"):
        load_or_create_key(tmp_path / "state")


def record(agent: str | None) -> dict[str, Any]:
    return {"source": {"ip": "203.0.113.9", "port": 5}, "optout": {"agent": agent}}


ANON = Pseudonymiser(KEY).pseudonym("203.0.113.9")
KEPT = {"ip": "203.0.113.9", "port": 5}
HIDDEN = {"port": 5, "address": ANON}


@pytest.mark.parametrize(
    ("mode", "agent", "source"),
    [
        ("crawlers-only", None, HIDDEN),
        ("crawlers-only", "GPTBot", KEPT),
        ("all", "GPTBot", HIDDEN),
        ("all", None, HIDDEN),
        ("off", None, KEPT),
    ],
)
def test_privacy_modes(mode: str, agent: str | None, source: dict[str, Any]) -> None:
    rec = record(agent)
    apply_privacy(rec, Pseudonymiser(KEY), mode)
    assert rec["source"] == source


def test_a_record_without_an_address_is_left_alone() -> None:
    rec: dict[str, Any] = {"source": {"ip": ""}, "optout": {"agent": None}}
    apply_privacy(rec, Pseudonymiser(KEY), "all")
    assert rec == {"source": {"ip": ""}, "optout": {"agent": None}}


def test_modes_are_checked() -> None:
    assert parse_mode(" Crawlers-Only ") == "crawlers-only"
    with pytest.raises(ValueError, match="one of crawlers-only, off, all, not 'some'"):
        parse_mode("some")
    with pytest.raises(ValueError, match="unknown log privacy mode"):
        apply_privacy(record(None), Pseudonymiser(KEY), "some")
    with pytest.raises(ValueError, match="needs a pseudonymiser"):
        apply_privacy(record(None), None, "crawlers-only")
    apply_privacy(record(None), None, "off")
