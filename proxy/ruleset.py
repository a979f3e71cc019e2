"""Everything loaded from a rules directory, validated as a whole.

    rules/agents/*.yaml   the agent catalogue
    rules/policy.yaml     the reservation and the rules

`load_rules` either returns a complete Ruleset or raises RuleError listing every
problem of every file, so the proxy never starts on half-valid rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from proxy.catalogue import Catalogue, load_catalogue
from proxy.errors import Problem, RuleError
from proxy.policy import Policy, load_policy
from proxy.signals import HeaderSignals, build_header_signals


@dataclass(frozen=True, slots=True)
class Ruleset:
    directory: Path
    catalogue: Catalogue
    policy: Policy
    headers: HeaderSignals


def load_rules(directory: Path) -> Ruleset:
    problems: list[Problem] = []
    if not directory.is_dir():
        raise RuleError([Problem(str(directory), None, "rules directory not found")])
    catalogue = load_catalogue(directory / "agents", problems)
    policy_file = directory / "policy.yaml"
    if not policy_file.is_file():
        problems.append(Problem(str(policy_file), None, "policy file not found"))
        raise RuleError(problems)
    policy = load_policy(policy_file, catalogue, problems)
    if problems:
        raise RuleError(problems)
    return Ruleset(directory, catalogue, policy, build_header_signals(policy.reservation))
