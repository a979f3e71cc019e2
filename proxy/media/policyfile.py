"""The policy a media command stamps with: one policy file and the agents it names.

Only the reservation and the label matter here, so the network tables the
proxy compiles at start are not loaded (they take seconds); the policy is
still validated as strictly, and refused with every problem located.
"""

from __future__ import annotations

from pathlib import Path

from proxy.config.catalogue import load_catalogue
from proxy.config.policy import Policy, load_policy
from proxy.errors import Problem, RuleError


def load(path: Path) -> Policy:
    """The policy in `path` (a policy file, or a rules directory's policy.yaml)."""
    if path.is_dir():
        path = path / "policy.yaml"
    problems: list[Problem] = []
    if not path.is_file():
        raise RuleError([Problem(str(path), None, "policy file not found")])
    catalogue = load_catalogue(path.parent / "agents", problems)
    policy = load_policy(path, catalogue, problems)
    if problems:
        raise RuleError(problems)
    return policy
