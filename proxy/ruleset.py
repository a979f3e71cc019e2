"""Everything loaded from a rules directory, validated as a whole.

    rules/agents/*.yaml   the agent catalogue
    rules/ipranges/*.json published IP ranges the catalogue refers to
    rules/policy.yaml     the reservation and the rules

`load_rules` either returns a complete Ruleset or raises RuleError listing every
problem of every file, so the proxy never starts on half-valid rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from proxy.catalogue import Catalogue, load_catalogue
from proxy.errors import Problem, RuleError
from proxy.htmlmeta import MetaTags
from proxy.ipranges import IpRanges, load_ipranges
from proxy.policy import Policy, load_policy
from proxy.reservation import warnings
from proxy.robots import RobotsPolicy
from proxy.robotsrules import robots_policy
from proxy.signals import HeaderSignals, build_header_signals, build_meta_tags
from proxy.wellknown import Document, documents


@dataclass(frozen=True, slots=True)
class Ruleset:
    directory: Path
    catalogue: Catalogue
    ipranges: IpRanges
    policy: Policy
    reserved_headers: HeaderSignals
    open_headers: HeaderSignals
    warnings: tuple[Problem, ...] = ()
    documents: Mapping[str, Document] = field(default_factory=dict)
    reserved_meta: MetaTags | None = None
    open_meta: MetaTags | None = None

    _robots: dict[str, RobotsPolicy] = field(default_factory=dict, compare=False, repr=False)

    def headers(self, reserved: bool) -> HeaderSignals:
        return self.reserved_headers if reserved else self.open_headers

    def meta(self, reserved: bool) -> MetaTags | None:
        return self.reserved_meta if reserved else self.open_meta

    def robots(self, host: str) -> RobotsPolicy:
        """The robots.txt policy for a host, cached (rules may match on host)."""
        found = self._robots.get(host)
        if found is None:
            if len(self._robots) >= 256:
                self._robots.clear()
            found = self._robots[host] = robots_policy(self.policy, self.catalogue, host)
        return found


def load_rules(directory: Path) -> Ruleset:
    problems: list[Problem] = []
    if not directory.is_dir():
        raise RuleError([Problem(str(directory), None, "rules directory not found")])
    catalogue = load_catalogue(directory / "agents", problems)
    ipranges = load_ipranges(directory / "ipranges", problems)
    problems.extend(_unknown_snapshots(catalogue, ipranges, directory))
    policy_file = directory / "policy.yaml"
    if not policy_file.is_file():
        problems.append(Problem(str(policy_file), None, "policy file not found"))
        raise RuleError(problems)
    policy = load_policy(policy_file, catalogue, problems)
    if problems:
        raise RuleError(problems)
    reservation = policy.reservation
    return Ruleset(
        directory,
        catalogue,
        ipranges,
        policy,
        build_header_signals(reservation, reserved=True),
        build_header_signals(reservation, reserved=False),
        tuple(warnings(reservation, str(policy_file))),
        MappingProxyType(documents(reservation, policy.label)),
        build_meta_tags(reservation, reserved=True),
        build_meta_tags(reservation, reserved=False),
    )


def _unknown_snapshots(catalogue: Catalogue, ipranges: IpRanges, directory: Path) -> list[Problem]:
    known = set(ipranges.names)
    return [
        Problem(
            str(directory / "agents"),
            None,
            f"unknown IP-range snapshot {name!r}; snapshots are rules/ipranges/*.json",
            f'agent "{agent.name}"',
            "verify",
        )
        for agent in catalogue.agents
        for name in agent.ip_ranges
        if name not in known
    ]
