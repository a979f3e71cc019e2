"""Shared fixtures: the shipped rules, and paths to the shared corpus."""

from __future__ import annotations

import pytest
from paths import RULES

from proxy.ruleset import Ruleset, load_rules


@pytest.fixture(scope="session")
def shipped() -> Ruleset:
    return load_rules(RULES)
