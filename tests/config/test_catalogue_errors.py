"""What `optout check` says about a broken catalogue or policy: the place, and nothing more.

A rule author fixes a file from the message alone, so each names FILE:LINE of the
problem and, for a duplicate, where the first one is; a duplicate YAML key quotes the
key, never its whole value; an unknown key suggests the key it is closest to.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from paths import ROOT, RULES

from proxy.config import yamlsource
from proxy.config.catalogue import load_catalogue
from proxy.errors import Problem, RuleError
from proxy.ruleset import load_rules


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    copy = tmp_path / "rules"
    shutil.copytree(RULES, copy)
    return copy


def _problems(rules: Path) -> list[str]:
    with pytest.raises(RuleError) as raised:
        load_rules(rules)
    return [str(p) for p in raised.value.problems]


def _yaml(path: Path) -> list[str]:
    """The problems of reading one YAML file as every rules file is read."""
    report = yamlsource.Report(str(path))
    yamlsource.load(path, report)
    return [str(p) for p in report.problems]


def _agents(tmp: Path, *files: str) -> Path:
    """An agents directory with only these shipped files, loaded in a fraction of the time."""
    agents = tmp / "agents"
    agents.mkdir()
    for name in files:
        shutil.copy(RULES / "agents" / name, agents / name)
    return agents


def _catalogue_problems(agents: Path) -> list[str]:
    problems: list[Problem] = []
    load_catalogue(agents, problems)
    return [str(p) for p in problems]


def _line(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_a_missing_snapshot_is_named_where_the_agent_names_it(rules: Path) -> None:
    (rules / "ipranges" / "applebot.json").unlink()
    agents = rules / "agents" / "apple.yaml"
    line = _line(agents, "applebot")  # the ip_ranges item
    assert _problems(rules) == [
        f'{agents}:{line}: agent "Applebot": verify: unknown IP-range snapshot '
        "'applebot'; snapshots are rules/ipranges/*.json"
    ]


def test_a_snapshot_named_as_a_single_string_has_its_line_too(tmp_path: Path) -> None:
    agents = _agents(tmp_path, "apple.yaml") / "apple.yaml"
    text = agents.read_text()
    assert "ip_ranges: [applebot]" in text
    agents.write_text(text.replace("ip_ranges: [applebot]", "ip_ranges: aplebot"))
    catalogue = load_catalogue(agents.parent, [])
    assert catalogue.where("Applebot", "aplebot") == (str(agents), _line(agents, "aplebot"))
    assert catalogue.where("Applebot", "applebot") is None


def _second_file(agents: Path, name: str, token: str) -> Path:
    """A second operator's file with one agent, sorted after openai.yaml."""
    second = agents / "zz-mine.yaml"
    second.write_text(
        f"operator: Mine\nagents:\n  - name: {name}\n    purpose: ai-training\n"
        f"    user_agents: [{token}]\n    robots_tokens: [{token}]\n"
        "    url: https://mine.example/\n    description: mine\n"
    )
    return second


def test_an_agent_defined_in_two_files_names_the_other_file(tmp_path: Path) -> None:
    agents = _agents(tmp_path, "openai.yaml")
    first = agents / "openai.yaml"
    second = _second_file(agents, "GPTBot", "MyGPTBot")
    (problem,) = _catalogue_problems(agents)
    assert problem == (
        f'{second}:3: agent "GPTBot": name: duplicate agent name; '
        f"first defined at {first}:{_line(first, 'name: GPTBot')}"
    )


def test_a_token_claimed_in_another_file_names_that_file(tmp_path: Path) -> None:
    agents = _agents(tmp_path, "openai.yaml")
    first = agents / "openai.yaml"
    second = _second_file(agents, "NotGPT", "gptbot")
    (problem,) = _catalogue_problems(agents)
    assert problem == (
        f"{second}:3: agent \"NotGPT\": user_agents: token 'gptbot' is already claimed by "
        f'agent "GPTBot" ({first}:{_line(first, "name: GPTBot")})'
    )


def test_a_duplicate_rules_key_quotes_the_key_and_lines_only(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    shutil.copy(RULES / "policy.yaml", policy)
    first = _line(policy, "rules:")
    policy.write_text(policy.read_text() + "rules:\n  - {name: x, agent: GPTBot, action: block}\n")
    last = len(policy.read_text().splitlines()) - 1
    assert _yaml(policy) == [
        f"{policy}:{last}: invalid YAML: duplicate key 'rules' (first at line {first})"
    ]


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("[a, b]", "(a complex key)"),  # a flow sequence as a key
        ('"x' + "y" * 100 + '"', "x" + "y" * 59 + "…"),  # a huge key is cut
    ],
)
def test_odd_duplicate_keys_still_give_one_short_line(tmp_path: Path, text: str, hint: str) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"version: 1\n? {text}\n: 1\n? {text}\n: 2\n")
    (problem,) = _yaml(policy)
    assert f"invalid YAML: duplicate key {hint!r} (first at line " in problem
    assert len(problem) < len(str(policy)) + 140


def test_a_recursive_alias_does_not_hang_the_duplicate_search(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\nloop: &a [*a]\nloop: 2\n")
    (problem,) = _yaml(policy)
    assert problem.endswith("invalid YAML: duplicate key 'loop' (first at line "
                            f"{_line(policy, 'loop: &a')})")  # fmt: skip


def test_optout_check_suggests_the_key_meant(rules: Path) -> None:
    policy = rules / "policy.yaml"
    text = policy.read_text()
    text = text.replace("    action: block\n", "    acton: block\n", 1)
    text = text.replace("\ndefault:", "\ndefualt:", 1)
    policy.write_text(text)
    done = subprocess.run(
        [sys.executable, "-m", "proxy", "check", "--rules", str(rules)],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert (
        f'{policy}:{_line(policy, "acton:")}: rule 1 ("block-spoofed"): acton: unknown key '
        "'acton'; did you mean 'action'? (a rule has name, "
    ) in done.stdout
    assert (
        f"{policy}:{_line(policy, 'defualt:')}: defualt: unknown key 'defualt'; did you mean "
        "'default'?"
    ) in done.stdout
    assert "Traceback" not in done.stderr
