"""rules/sites.yaml: the sites this proxy serves, by Host, and where each one lives.

    sites:
      - hosts: [label.example, www.label.example]   # exact names, or "*.label.example"
        upstream: http://10.0.0.5:8000               # http(s)://HOST[:PORT]
        policy: policy-shop.yaml                     # a policy file in rules/ (default policy.yaml)
        tls: {cert: /etc/optout/label.pem, key: /etc/optout/label.key}  # for --tls
        default: true                                # for clients that name no host

Without the file the proxy serves one site (--upstream), whatever the Host. With
it, the Host decides the site, and a Host no site names is refused: the proxy only
ever connects to upstreams listed here, so it can never be used as an open proxy.

A wildcard `*.label.example` matches any name under label.example (not the bare
name, as in policy `host:` matchers); an exact name beats a wildcard, and a longer
wildcard beats a shorter one. Validation is strict and located like the policy's;
certificates are read and checked against their keys here, so a bad file stops
the proxy at start (or a reload) instead of failing handshakes later.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from proxy.config import yamlsource
from proxy.config.certificates import Certificate, load_certificate
from proxy.errors import Problem

SITES_FILE = "sites.yaml"
DEFAULT_POLICY = "policy.yaml"
_TOP_KEYS = ("version", "sites")
_SITE_KEYS = ("hosts", "upstream", "policy", "tls", "default")
_HOST = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")
_POLICY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\.yaml")


@dataclass(frozen=True, slots=True)
class Upstream:
    scheme: str  # http or https
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Site:
    hosts: tuple[str, ...]  # lower-case names and "*." patterns, as written
    upstream: Upstream
    policy: str = DEFAULT_POLICY  # a file name in the rules directory
    tls: Certificate | None = None
    default: bool = False

    @property
    def name(self) -> str:
        """The site's first host: how logs and messages name it."""
        return self.hosts[0]


@dataclass(frozen=True, slots=True)
class Sites:
    sites: tuple[Site, ...]
    warnings: tuple[Problem, ...] = ()
    _exact: Mapping[str, Site] = field(default_factory=dict, repr=False)
    _wildcards: tuple[tuple[str, Site], ...] = field(default=(), repr=False)

    @classmethod
    def of(cls, sites: tuple[Site, ...], warnings: tuple[Problem, ...] = ()) -> Sites:
        exact = {h: s for s in sites for h in s.hosts if not h.startswith("*.")}
        wild = [(h[1:], s) for s in sites for h in s.hosts if h.startswith("*.")]
        wild.sort(key=lambda pair: -len(pair[0]))  # the most specific suffix first
        return cls(sites, warnings, MappingProxyType(exact), tuple(wild))

    def match(self, host: str) -> Site | None:
        """The site serving `host` (a name without port, as `host_of` returns it)."""
        found = self._exact.get(host)
        if found is not None or not host:
            return found
        return next((site for suffix, site in self._wildcards if host.endswith(suffix)), None)

    @property
    def default(self) -> Site | None:
        return next((s for s in self.sites if s.default), None)

    @property
    def policies(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.policy for s in self.sites))

    @property
    def tls(self) -> bool:
        return any(s.tls is not None for s in self.sites)


def host_of(value: str) -> str:
    """The host of a Host header or authority, lower-case, without port or final dot."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    if value.count(":") == 1:
        value = value.rsplit(":", 1)[0]
    return value.rstrip(".")


def parse_upstream(value: str) -> Upstream:
    """`http(s)://HOST[:PORT]`, nothing else. Raises ValueError."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} must be http(s)://HOST[:PORT]")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError(f"{value!r} must not have a path, query, fragment or user")
    try:
        port = parts.port
    except ValueError as e:
        raise ValueError(f"{value!r}: {e}") from e
    return Upstream(parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80))


def load_sites(path: Path, directory: Path, problems: list[Problem]) -> Sites | None:
    """Load and validate `path`; relative certificate paths are under `directory`."""
    report = yamlsource.Report(str(path))
    data = yamlsource.load(path, report)
    sites: Sites | None = None
    if data is None and not report.problems:
        report.add(None, "the file is empty; a sites file needs 'sites:'")
    elif data is not None and not isinstance(data, dict):
        report.add(yamlsource.line_of(data), "expected a mapping with 'sites:'")
    elif isinstance(data, dict):
        for key in yamlsource.unknown_keys(data, _TOP_KEYS):
            message = yamlsource.unknown_key(key, _TOP_KEYS)
            report.add(yamlsource.line_of(data, key), message, field=key)
        if data.get("version", 1) != 1:
            line = yamlsource.line_of(data, "version")
            report.add(line, "only version 1 exists", field="version")
        sites = _parse_sites(data, directory, report)
    problems.extend(report.problems)
    return sites if not report.problems else None


def _parse_sites(data: dict[str, Any], directory: Path, report: yamlsource.Report) -> Sites:
    node = data.get("sites")
    if not isinstance(node, list) or not node:
        report.add(yamlsource.line_of(data, "sites"), "must be a non-empty list", field="sites")
        return Sites.of(())
    parsed: list[Site] = []
    owners: dict[str, int] = {}
    defaults: list[int] = []
    warnings: list[Problem] = []
    for index, entry in enumerate(node):
        site = _parse_site(entry, index + 1, yamlsource.line_of(node, index), directory, report)
        if site is None:
            continue
        label = _label(index + 1, site.hosts)
        for host in site.hosts:
            if host in owners:
                where = yamlsource.line_of(entry, "hosts")
                report.add(where, f"{host!r} is already a host of site {owners[host]}", label)
            owners.setdefault(host, index + 1)
        if site.default:
            defaults.append(index + 1)
        if site.tls is not None:
            line = yamlsource.line_of(entry, "tls")
            found = site.tls.check(site.hosts)
            warnings += [Problem(report.file, line, w, label, "tls") for w in found]
        parsed.append(site)
    if len(defaults) > 1:
        line = yamlsource.line_of(data, "sites")
        message = f"only one site may be the default; sites {defaults} say so"
        report.add(line, message, field="sites")
    return Sites.of(tuple(parsed), tuple(warnings))


def _parse_site(
    entry: Any, number: int, line: int | None, directory: Path, report: yamlsource.Report
) -> Site | None:
    if not isinstance(entry, dict):
        report.add(line, "each site must be a mapping", rule=f"site {number}")
        return None
    hosts = _hosts(entry.get("hosts"))
    label = _label(number, hosts or ())
    before = len(report.problems)

    def bad(key: str, message: str) -> None:
        report.add(yamlsource.line_of(entry, key) or line, message, rule=label, field=key)

    for key in yamlsource.unknown_keys(entry, _SITE_KEYS):
        bad(key, yamlsource.unknown_key(key, _SITE_KEYS, "a site"))
    if hosts is None:
        bad("hosts", "must be a host name or a non-empty list of them ('*.' + name allowed)")
    upstream = yamlsource.required(entry, "upstream", parse_upstream, bad)
    policy = entry.get("policy", DEFAULT_POLICY)
    if not isinstance(policy, str) or _POLICY_NAME.fullmatch(policy) is None:
        bad("policy", f"must be the name of a .yaml file in the rules directory, not {policy!r}")
    elif not (directory / policy).is_file():
        bad("policy", f"policy file {policy!r} not found in {directory}")
    default = entry.get("default", False)
    if not isinstance(default, bool):
        bad("default", f"must be true or false, not {default!r}")
    tls = _tls(entry.get("tls"), directory, bad) if "tls" in entry else None
    if len(report.problems) > before or hosts is None or upstream is None:
        return None
    return Site(hosts, upstream, str(policy), tls, bool(default))


def _hosts(value: Any) -> tuple[str, ...] | None:
    names = yamlsource.string_list(value)
    if not names:
        return None
    lowered = tuple(n.strip().lower().rstrip(".") for n in names)
    bare = (n.removeprefix("*.") for n in lowered)
    return lowered if all(_HOST.fullmatch(n) for n in bare) else None


def _tls(node: Any, directory: Path, bad: Any) -> Certificate | None:
    if not isinstance(node, dict) or set(node) != {"cert", "key"}:
        bad("tls", "must be {cert: FILE, key: FILE} (PEM; relative to the rules directory)")
        return None
    if not all(isinstance(node[k], str) and node[k] for k in ("cert", "key")):
        bad("tls", "cert and key must be file names")
        return None
    try:
        return load_certificate(directory / node["cert"], directory / node["key"])
    except ValueError as e:
        bad("tls", str(e))
        return None


def _label(number: int, hosts: tuple[str, ...]) -> str:
    return f'site {number} ("{hosts[0]}")' if hosts else f"site {number}"
