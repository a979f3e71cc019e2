"""A pipeline over the shipped rules, inside mitmproxy's test context."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flows import pipeline
from mitmproxy.test import taddons

from addons import default_addons
from proxy.engine.pipeline import Pipeline
from proxy.ruleset import Ruleset


@pytest.fixture
def pipe(shipped: Ruleset, tmp_path: Path) -> Iterator[Pipeline]:
    p = pipeline(shipped, tmp_path)
    with taddons.context(*default_addons(p)):
        yield p
    p.log.close()
