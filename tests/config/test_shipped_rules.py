"""The shipped rules: they load, cover every known AI agent, and classify real user agents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from paths import RULES, SHARED
from ruamel.yaml import YAML

from proxy.model import Purpose
from proxy.ruleset import Ruleset

AI_ROBOTS = SHARED / "corpus" / "agents" / "ai.robots.txt-robots.json"
CASES = YAML(typ="safe").load(Path(__file__).parents[1].joinpath("data", "user_agents.yaml"))


def test_every_ai_robots_txt_agent_is_catalogued(shipped: Ruleset) -> None:
    tokens = {t for agent in shipped.catalogue.agents for t in agent.robots_tokens}
    known = json.loads(AI_ROBOTS.read_text())
    assert len(known) == 166
    assert sorted(set(known) - tokens) == []


def test_major_crawlers_and_fetchers_are_catalogued(shipped: Ruleset) -> None:
    names = {a.name for a in shipped.catalogue.agents}
    for name in (
        "Googlebot",
        "bingbot",
        "DuckDuckBot",
        "YandexBot",
        "Applebot",
        "Baiduspider",
        "facebookexternalhit",
        "Twitterbot",
        "archive.org_bot",
        "Miniflux",
        "Feedly",
        "UptimeRobot",
    ):
        assert name in names, name
    purposes = {a.purpose for a in shipped.catalogue.agents}
    assert purposes == set(Purpose)


def test_every_ip_range_snapshot_exists(shipped: Ruleset) -> None:
    for agent in shipped.catalogue.agents:
        for name in agent.ip_ranges:
            snapshot = json.loads((RULES / "ipranges" / f"{name}.json").read_text())
            assert snapshot["source"].startswith("https://"), name
            assert snapshot["prefixes"], name


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["ua"][:60])
def test_real_user_agents(shipped: Ruleset, case: dict[str, str | None]) -> None:
    found = shipped.catalogue.match(str(case["ua"]))
    assert (found.name if found else None) == case["agent"], case.get("note")


def test_the_fixture_table_covers_browsers_and_crawlers() -> None:
    assert len(CASES) >= 120
    assert sum(c["agent"] is None for c in CASES) >= 20
