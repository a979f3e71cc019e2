"""`rules/licensees.yaml`: the clients of the licence server, validated with FILE:LINE.

    licensees:
      - client_id: acme-ai
        secret_hash: "scrypt:16384:8:1:..."     # optout licensee add prints it
        organisation: Acme AI Ltd
        contact: mailto:licensing@acme.example
        agents: [GPTBot]
        expires: 2027-12-31                    # optional: the agreement's end
        licences:
          - {usage: [ai-train], paths: [/music/], price: USD 250.00, term: 30d}
        revoked: false                         # optional
        revoked_tokens: []                     # optional: jti values

Every problem of the file is collected, each naming its line and licensee, as
the policy's are; the file is our configuration, so it is strict.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from types import MappingProxyType
from typing import Any

from proxy.config import yamlsource
from proxy.errors import RuleError
from proxy.licensing.clients import Licensee, Offer, Registry
from proxy.prices import Price, parse_price

LICENSEES_FILE = "licensees.yaml"
_KEYS = (
    "client_id",
    "secret_hash",
    "organisation",
    "contact",
    "agents",
    "expires",
    "licences",
    "revoked",
    "revoked_tokens",
)
_OFFER_KEYS = ("usage", "paths", "price", "term")
_TERM = re.compile(r"([1-9][0-9]{0,5})([dhm])")
_UNIT = {"d": 86400, "h": 3600, "m": 60}


def load_licensees(path: Path) -> Registry:
    """The registry in `path` (empty if there is no file). RuleError lists every problem."""
    if not path.is_file():
        return Registry()
    report = yamlsource.Report(str(path))
    data = yamlsource.load(path, report)
    registry = parse_licensees(data, report)
    if report.problems:
        raise RuleError(report.problems)
    return registry


def parse_licensees(data: Any, report: yamlsource.Report) -> Registry:
    if data is None:
        return Registry()
    if not isinstance(data, dict) or set(data) - {"licensees"}:
        report.add(yamlsource.line_of(data), "must be a mapping with one key, licensees")
        return Registry()
    entries = data.get("licensees") or []
    if not isinstance(entries, list):
        report.add(yamlsource.line_of(data, "licensees"), "must be a list", field="licensees")
        return Registry()
    found: dict[str, Licensee] = {}
    for index, entry in enumerate(entries):
        licensee = _licensee(entry, index + 1, yamlsource.line_of(entries, index), report)
        if licensee is not None and licensee.client_id in found:
            at = yamlsource.line_of(entry, "client_id")
            report.add(at, f"client_id {licensee.client_id!r} is listed twice", field="client_id")
        elif licensee is not None:
            found[licensee.client_id] = licensee
    return Registry(MappingProxyType(found))


def _licensee(entry: Any, index: int, line: int | None, report: yamlsource.Report) -> Any:
    if not isinstance(entry, dict):
        report.add(line, "each licensee must be a mapping", rule=f"licensee {index}")
        return None
    name = f"licensee {index} ({entry.get('client_id')!r})"

    def bad(key: str, message: str, at: int | None = None) -> None:
        report.add(at or yamlsource.line_of(entry, key) or line, message, rule=name, field=key)

    for key in yamlsource.unknown_keys(entry, _KEYS):
        bad(key, f"unknown key {key!r}")
    before = len(report.problems)
    offers = _offers(entry, bad)
    expires = _expires(entry.get("expires"), bad)
    agents = yamlsource.string_list(entry.get("agents"))
    revoked_tokens = yamlsource.string_list(entry.get("revoked_tokens", []))
    if revoked_tokens is None:
        bad("revoked_tokens", "must be a list of token ids (jti)")
    if not isinstance(entry.get("revoked", False), bool):
        bad("revoked", "must be true or false")
    if len(report.problems) > before:
        return None
    try:
        return Licensee(
            client_id=str(entry.get("client_id", "")),
            secret_hash=str(entry.get("secret_hash", "")),
            organisation=str(entry.get("organisation", "")),
            contact=str(entry.get("contact", "")),
            agents=tuple(agents or ()),
            offers=offers,
            expires=expires,
            revoked=bool(entry.get("revoked", False)),
            revoked_tokens=frozenset(revoked_tokens or ()),
        )
    except ValueError as e:
        report.add(line, str(e), rule=name)
        return None


def _offers(entry: dict[str, Any], bad: Any) -> tuple[Offer, ...]:
    node = entry.get("licences")
    if not isinstance(node, list) or not node:
        bad("licences", "must be a non-empty list of {usage, paths, term, price}")
        return ()
    offers = []
    for index, item in enumerate(node):
        at = yamlsource.line_of(node, index)
        if not isinstance(item, dict):
            bad("licences", f"licence {index + 1} must be a mapping", at)
            continue
        for key in yamlsource.unknown_keys(item, _OFFER_KEYS):
            bad("licences", f"licence {index + 1}: unknown key {key!r}", at)
        try:
            offers.append(
                Offer(
                    usage=tuple(yamlsource.string_list(item.get("usage")) or ()),
                    paths=tuple(yamlsource.string_list(item.get("paths", ["/"])) or ()),
                    term=parse_term(str(item.get("term", "30d"))),
                    price=_price(item.get("price")),
                )
            )
        except ValueError as e:
            bad("licences", f"licence {index + 1}: {e}", at)
    return tuple(offers)


def parse_term(text: str) -> int:
    """`30d`, `12h` or `90m`, in seconds. Raises ValueError."""
    match = _TERM.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"term {text!r} must be a number and d, h or m, such as 30d")
    return int(match.group(1)) * _UNIT[match.group(2)]


def _price(value: Any) -> Price | None:
    return None if value is None else parse_price(str(value))


def _expires(value: Any, bad: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):  # through that day, in UTC
        return dt.datetime.combine(value, dt.time.max, dt.UTC)
    bad("expires", f"expires {value!r} must be a date like 2027-01-01")
    return None
