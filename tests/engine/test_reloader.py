"""Reloading the rules: swap on success, keep the old rules on failure, one at a time."""

from __future__ import annotations

import asyncio
import logging
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from paths import RULES
from watchfiles import Change

from proxy.engine import reloader as reloader_module
from proxy.engine.pipeline import Pipeline
from proxy.engine.reloader import Reloader, is_rules_file, rules_version
from proxy.errors import Problem, RuleError
from proxy.ops.metrics import Metrics
from proxy.ruleset import Ruleset
from proxy.store.logwriter import LogWriter

BLOCK_ANTENNAPOD = "  - name: block-antennapod\n    agent: AntennaPod\n    action: block\n\n"


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    copy = tmp_path / "rules"
    shutil.copytree(RULES, copy)
    return copy


@pytest.fixture
def pipe(shipped: Ruleset, rules: Path, tmp_path: Path) -> Iterator[Pipeline]:
    from dataclasses import replace

    p = Pipeline(replace(shipped, directory=rules), LogWriter(str(tmp_path / "log")))
    yield p
    p.log.close()


def add_rule(rules: Path, rule: str) -> None:
    policy = rules / "policy.yaml"
    policy.write_text(policy.read_text().replace("rules:\n", "rules:\n" + rule, 1))


def test_version_follows_the_contents(rules: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(rules, other)
    assert rules_version(rules) == rules_version(other)
    assert len(rules_version(rules)) == 12
    (rules / "README.md").write_text("not a rules file")
    assert rules_version(rules) == rules_version(other)
    add_rule(rules, BLOCK_ANTENNAPOD)
    assert rules_version(rules) != rules_version(other)


@pytest.mark.parametrize(
    ("path", "watched"),
    [
        ("rules/policy.yaml", True),
        ("rules/agents/openai.yaml", True),
        ("rules/ipranges/openai-gptbot.json", True),
        ("rules/.policy.yaml.swp", False),
        ("rules/.policy.yaml", False),
        ("rules/policy.yaml~", False),
        ("rules/README.md", False),
    ],
)
def test_only_rules_files_trigger_a_reload(path: str, watched: bool) -> None:
    assert is_rules_file(Change.modified, path) is watched


async def test_valid_rules_are_swapped_in(pipe: Pipeline, rules: Path) -> None:
    metrics = Metrics()
    swapped: list[Ruleset] = []
    reloader = Reloader(pipe, metrics, [swapped.append], clock=lambda: 1234.0)
    old, before = pipe.ruleset, reloader.version
    add_rule(rules, BLOCK_ANTENNAPOD)
    result = await reloader.reload("admin")
    assert result.ok
    assert result.version == reloader.version == rules_version(rules) != before
    assert pipe.ruleset is not old
    assert swapped == [pipe.ruleset]
    assert pipe.ruleset.policy.rules[0].name == "block-antennapod"
    assert old.policy.rules[0].name != "block-antennapod"  # flows in flight keep theirs
    text = metrics.render().decode()
    assert f'optout_rules_version_info{{version="{result.version}"}} 1.0' in text
    assert "optout_rules_loaded_timestamp_seconds 1234.0" in text
    assert 'optout_reloads_total{reason="admin",result="success"} 1.0' in text


async def test_invalid_rules_keep_the_old_ones(
    pipe: Pipeline, rules: Path, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = Metrics()
    reloader = Reloader(pipe, metrics)
    old, version = pipe.ruleset, reloader.version
    add_rule(rules, "  - name: broken\n    purpose: ai-trainig\n    action: block\n\n")
    with caplog.at_level(logging.ERROR, logger="proxy.engine.reloader"):
        result = await reloader.reload("file")
    assert not result.ok
    assert result.version == version == reloader.version
    assert pipe.ruleset is old
    assert len(result.errors) == 1
    assert "rule 1 (\"broken\"): purpose: unknown purpose 'ai-trainig'" in result.errors[0]
    assert result.errors[0] in caplog.messages
    assert f"version {version} keeps serving" in caplog.text
    text = metrics.render().decode()
    assert 'optout_reloads_total{reason="file",result="failure"} 1.0' in text
    assert "optout_rules_last_reload_success 0.0" in text
    assert f'optout_rules_version_info{{version="{version}"}} 1.0' in text


async def test_reloads_run_one_at_a_time(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch, shipped: Ruleset
) -> None:
    active, overlaps = [0], []
    lock = threading.Lock()

    def slow_load(directory: Path) -> Ruleset:
        with lock:
            active[0] += 1
            overlaps.append(active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        if len(overlaps) == 2:
            raise RuleError([Problem("policy.yaml", 1, "broken")])
        return shipped

    monkeypatch.setattr(reloader_module, "load_rules", slow_load)
    reloader = Reloader(pipe, Metrics())
    results = await asyncio.gather(*(reloader.reload(r) for r in ("file", "signal", "admin")))
    assert overlaps == [1, 1, 1]
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].errors == ("policy.yaml:1: broken",)


async def test_a_file_change_reloads(pipe: Pipeline, rules: Path) -> None:
    metrics = Metrics()
    swapped = asyncio.Event()
    reloader = Reloader(pipe, metrics, [lambda _: swapped.set()])
    stop = asyncio.Event()
    watching = asyncio.create_task(reloader.watch(stop))
    await asyncio.sleep(0.3)  # the watcher is set up
    add_rule(rules, BLOCK_ANTENNAPOD)
    async with asyncio.timeout(10):
        await swapped.wait()
    assert pipe.ruleset.policy.rules[0].name == "block-antennapod"
    stop.set()
    async with asyncio.timeout(2):
        await watching
    assert 'optout_reloads_total{reason="file",result="success"} 1.0' in metrics.render().decode()
