"""The `licences:` section of the policy, and checking the licence a request presents.

    licences:
      public_keys: ["ed25519:..."]          # the label's keys (optout licence keygen)
      listed:                                # opaque tokens, kept only as their SHA-256
        - {licensee: Acme AI, token_sha256: "...", agents: [GPTBot], paths: [/],
           expires: 2027-01-01}
      server: https://label.example/olp      # the OLP licence server this proxy runs

With `server`, the proxy serves the Open License Protocol endpoints under that
URL (addons/olp.py) for the clients of `rules/licensees.yaml`, and accepts the
JWTs it issued. Tokens signed with `public_keys` (`olt1.`) are deprecated: they
keep working until they expire, but new licences should come from the server.

A request presents a licence as `Authorization: License <token>` (RSL's crawler
authorisation). A valid one allows the request whatever the rules say of its
purpose; where a rule's action is `licence`, a missing or invalid one is answered
401 with the reason.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from proxy.config import yamlsource
from proxy.licensing import jwttokens
from proxy.licensing import tokens as licence
from proxy.licensing.olp import Server
from proxy.licensing.tokens import LicenceResult, ListedLicence
from proxy.licensing.verifier import Verifier

_KEYS = ("public_keys", "listed", "server")
_LISTED_KEYS = ("licensee", "token_sha256", "agents", "paths", "expires")
NO_SERVER = LicenceResult(
    False, error=licence.INVALID_TOKEN, description="this site issues no licence JWTs"
)
NOT_PRESENTED = LicenceResult(
    False, error=licence.INVALID_REQUEST, description="a licence is required for this content"
)
MALFORMED = LicenceResult(
    False, error=licence.INVALID_REQUEST, description="the Authorization header is malformed"
)


@dataclass(frozen=True, slots=True)
class Licences:
    public_keys: tuple[Ed25519PublicKey, ...] = ()
    listed: tuple[ListedLicence, ...] = ()
    server: Server | None = None  # the OLP server this proxy runs
    verifier: Verifier | None = None  # attached by the OLP addon, with the live keys

    @property
    def configured(self) -> bool:
        return bool(self.public_keys or self.listed or self.server)

    def serves(self, path: str) -> bool:
        """Whether `path` is an endpoint of the licence server (always free, like robots.txt)."""
        return self.server is not None and self.server.endpoint(path) is not None

    def check(
        self, authorization: str | None, agent: str | None, path: str, now: float
    ) -> LicenceResult | None:
        """The check of the presented licence; None when the request presents none."""
        token = licence.parse_authorization(authorization)
        if token is None:
            return None
        if token is licence.MALFORMED:
            return MALFORMED
        if jwttokens.looks_like_jwt(str(token)):
            if self.verifier is None:
                return NO_SERVER
            return self.verifier.verify(str(token), agent=agent, path=path, now=now)
        return licence.verify(
            str(token),
            public_keys=self.public_keys,
            listed=self.listed,
            agent=agent,
            path=path,
            now=now,
        )


def parse_licences(node: Any, report: yamlsource.Report, line: int | None) -> Licences:
    if node is None:
        return Licences()
    if not isinstance(node, dict):
        report.add(line, "must be a mapping with public_keys, listed or server", field="licences")
        return Licences()
    for key in yamlsource.unknown_keys(node, _KEYS):
        message = yamlsource.unknown_key(key, _KEYS)
        report.add(yamlsource.line_of(node, key), message, field="licences")
    keys = []
    for index, text in enumerate(_list(node, "public_keys", report)):
        try:
            keys.append(licence.parse_public_key(str(text)))
        except ValueError as e:
            at = yamlsource.line_of(node["public_keys"], index)
            report.add(at, str(e), field="licences.public_keys")
    listed = []
    for index, entry in enumerate(_list(node, "listed", report)):
        item = _listed(entry, yamlsource.line_of(node["listed"], index), report)
        if item is not None:
            listed.append(item)
    return Licences(tuple(keys), tuple(listed), _server(node, report))


def _server(node: dict[str, Any], report: yamlsource.Report) -> Server | None:
    """The issuer URL; the audience is its origin, the endpoints live under its path."""
    value = node.get("server")
    if value is None:
        return None
    url = urllib.parse.urlsplit(str(value))
    if url.scheme not in ("http", "https") or not url.netloc or url.query or url.fragment:
        at = yamlsource.line_of(node, "server")
        message = (
            f"server {value!r} must be an http(s) URL without query, like https://label.example/olp"
        )
        report.add(at, message, field="licences.server")
        return None
    origin = f"{url.scheme}://{url.netloc.lower()}"
    path = url.path.rstrip("/") or ""
    return Server(issuer=origin + path, audience=origin, path=path or "/")


def _list(node: dict[str, Any], key: str, report: yamlsource.Report) -> list[Any]:
    value = node.get(key, [])
    if not isinstance(value, list):
        report.add(yamlsource.line_of(node, key), "must be a list", field=f"licences.{key}")
        return []
    return value


def _listed(entry: Any, line: int | None, report: yamlsource.Report) -> ListedLicence | None:
    field = "licences.listed"
    if not isinstance(entry, dict):
        report.add(line, "each listed licence must be a mapping", field=field)
        return None
    for key in yamlsource.unknown_keys(entry, _LISTED_KEYS):
        message = yamlsource.unknown_key(key, _LISTED_KEYS)
        report.add(yamlsource.line_of(entry, key), message, field=field)
    expires = entry.get("expires")
    if isinstance(expires, dt.date) and not isinstance(expires, dt.datetime):
        # A date means "through that day", in UTC.
        expires = dt.datetime.combine(expires, dt.time.max, dt.UTC)
    elif isinstance(expires, dt.datetime) and expires.tzinfo is None:
        expires = expires.replace(tzinfo=dt.UTC)
    elif expires is not None and not isinstance(expires, dt.datetime):
        at = yamlsource.line_of(entry, "expires")
        report.add(at, f"expires {expires!r} must be a date like 2027-01-01", field=field)
        return None
    try:
        return ListedLicence(
            licensee=str(entry.get("licensee", "")),
            token_sha256=str(entry.get("token_sha256", "")),
            agents=tuple(yamlsource.string_list(entry.get("agents", [])) or ()),
            paths=tuple(yamlsource.string_list(entry.get("paths", ["/"])) or ()),
            expires=expires,
        )
    except ValueError as e:
        report.add(line, str(e), rule=f"licensee {entry.get('licensee')!r}", field=field)
        return None
