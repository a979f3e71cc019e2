"""Everything loaded from a rules directory, validated as a whole.

    rules/agents/*.yaml   the agent catalogue
    rules/ipranges/*.json published IP ranges the catalogue refers to
    rules/networks/*.txt  cloud and hosting providers' published ranges (optional)
    rules/policy.yaml     the reservation and the rules
    rules/sites.yaml      optional: several sites by Host, each with its upstream
                          and, optionally, its own policy file (proxy.config.sites)

`load_rules` either returns a complete Ruleset or raises RuleError listing every
problem of every file, so the proxy never starts on half-valid rules. With
sites.yaml, the Ruleset returned is the default policy's, and `for_site` gives
each site its own Ruleset; all of them share one catalogue and one set of IP
ranges, so a reload swaps every site's rules in one assignment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

from proxy.config.catalogue import Catalogue, load_catalogue
from proxy.config.policy import Policy, load_policy
from proxy.config.reservation import warnings
from proxy.config.rule import Vocabulary
from proxy.config.sites import DEFAULT_POLICY, SITES_FILE, Site, Sites, load_sites
from proxy.decision import score
from proxy.decision.trap import TRAP
from proxy.errors import Problem, RuleError
from proxy.identity.consistency import SIGNALS
from proxy.identity.ipranges import IpRanges, load_ipranges
from proxy.identity.networks import Networks, load_networks
from proxy.identity.tlsclients import CLIENTS_FILE, load_clients
from proxy.signals.c2palink import INDEX_FILE, load_index
from proxy.signals.headers import HeaderSignals, build_header_signals, build_meta_tags
from proxy.signals.htmlmeta import MetaTags
from proxy.signals.robotspolicy import robots_policy
from proxy.signals.robotstxt import RobotsPolicy
from proxy.signals.wellknown import Document, documents


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
    sites: Sites | None = None  # None: no sites.yaml, one site (--upstream) for any Host
    policy_file: str = DEFAULT_POLICY
    site_rulesets: Mapping[str, Ruleset] = field(default_factory=dict, repr=False)
    networks: Networks = field(default_factory=Networks, repr=False)  # rules/networks + ipranges
    media_manifests: frozenset[str] = frozenset()  # media with a C2PA sidecar (c2palink)

    _robots: dict[str, RobotsPolicy] = field(default_factory=dict, compare=False, repr=False)

    def headers(self, reserved: bool) -> HeaderSignals:
        return self.reserved_headers if reserved else self.open_headers

    def meta(self, reserved: bool) -> MetaTags | None:
        return self.reserved_meta if reserved else self.open_meta

    def for_site(self, site: Site) -> Ruleset:
        """The rules of one site: its own policy's, sharing this catalogue and IP ranges."""
        return self.site_rulesets.get(site.policy, self)

    def robots(self, host: str) -> RobotsPolicy:
        """The robots.txt policy for a host, cached (rules may match on host)."""
        found = self._robots.get(host)
        if found is None:
            if len(self._robots) >= 256:
                self._robots.clear()
            found = self._robots[host] = robots_policy(self.policy, self.catalogue, host)
        return found


def load_rules(directory: Path, policy_file: str = DEFAULT_POLICY) -> Ruleset:
    """The rules of `directory`, with `policy_file` (a name in it) as the default policy."""
    problems: list[Problem] = []
    if not directory.is_dir():
        raise RuleError([Problem(str(directory), None, "rules directory not found")])
    catalogue = load_catalogue(directory / "agents", problems)
    ipranges = load_ipranges(directory / "ipranges", problems)
    problems.extend(_unknown_snapshots(catalogue, ipranges, directory))
    operators = {name: a.operator for a in catalogue.agents for name in reversed(a.ip_ranges)}
    networks = load_networks(directory / "networks", problems, ipranges, operators)
    # Checked with the rest, so a broken table stops a start or a reload; the
    # Fingerprint addon reads it (rules/tls/clients.yaml).
    load_clients(directory / CLIENTS_FILE, problems)
    if not (directory / policy_file).is_file():
        problems.append(Problem(str(directory / policy_file), None, "policy file not found"))
        raise RuleError(problems)
    base = _policy_rules(directory, policy_file, catalogue, ipranges, problems, networks)
    sites = None
    if (directory / SITES_FILE).is_file():
        sites = load_sites(directory / SITES_FILE, directory, problems)
    others = {
        name: _policy_rules(directory, name, catalogue, ipranges, problems, networks)
        for name in (sites.policies if sites is not None else ())
        if name != policy_file
    }
    if problems:
        raise RuleError(problems)
    warned = base.warnings + (sites.warnings if sites is not None else ())
    warned += tuple(w for ruleset in others.values() for w in ruleset.warnings)
    return replace(base, warnings=warned, sites=sites, site_rulesets=MappingProxyType(others))


def _policy_rules(
    directory: Path,
    name: str,
    catalogue: Catalogue,
    ipranges: IpRanges,
    problems: list[Problem],
    networks: Networks,
) -> Ruleset:
    """One policy file's Ruleset (unusable if it added problems: the caller raises)."""
    policy_file = directory / name
    signals = SIGNALS | score.SIGNALS  # consistency checks and a client's behaviour
    vocabulary = Vocabulary(networks.providers, signals, frozenset({TRAP}))
    policy = load_policy(policy_file, catalogue, problems, vocabulary)
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
        policy_file=name,
        networks=networks,
        media_manifests=(
            load_index(directory / INDEX_FILE, problems)
            if reservation.media_manifests
            else frozenset()
        ),
    )


def _unknown_snapshots(catalogue: Catalogue, ipranges: IpRanges, directory: Path) -> list[Problem]:
    known = set(ipranges.names)
    return [
        Problem(
            *(catalogue.where(agent.name, name) or (str(directory / "agents"), None)),
            f"unknown IP-range snapshot {name!r}; snapshots are rules/ipranges/*.json",
            f'agent "{agent.name}"',
            "verify",
        )
        for agent in catalogue.agents
        for name in agent.ip_ranges
        if name not in known
    ]
