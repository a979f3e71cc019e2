"""rules/policy.yaml: the label's reservation and its ordered rules.

    label: Northern Lights Records        # shown on the block page
    reservation: {...}                     # signals every response carries
    rules: [{name, <matchers>, action}]    # first match wins
    default: allow                         # the explicit verdict when no rule matches
    enforce: true                          # false: shadow mode, decide and log, block nothing

Validation is strict and collects every problem, each located by file, line, rule
and field. Values that end up in response headers are checked here, so a CR/LF or
a malformed URL in the policy can never be injected into a response.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proxy.config import challenge, yamlsource
from proxy.config.catalogue import Catalogue
from proxy.config.licences import Licences, parse_licences
from proxy.config.reservation import Reservation, has_control, parse_reservation
from proxy.config.rule import (
    CRAWLER_RANGE,
    DATACENTER,
    Rule,
    Vocabulary,
    parse_rate,
    parse_threshold,
)
from proxy.config.trap import Trap, parse_trap
from proxy.config.weights import Weights, parse_weights
from proxy.errors import Problem
from proxy.model import Action, Identity, Purpose, Verdict
from proxy.patterns import compile_hosts, compile_paths
from proxy.prices import parse_price

_TOP_KEYS: tuple[str, ...] = ("version", "label", "reservation", "rules", "default", "enforce")
_TOP_KEYS += ("licences", "trap", "address")  # address: for `optout evidence notice`
_TOP_KEYS += ("suspicion",)  # the weights of the suspicion score (proxy.config.weights)
_MATCHERS: tuple[str, ...] = ("agent", "operator", "purpose", "identity", "host", "path")
_MATCHERS += ("method", "network", "signals", "flagged")
_ACTION_KEYS = {"price": Action.CHARGE, "rate": Action.THROTTLE, "per": Action.THROTTLE}
_ACTION_KEYS |= dict.fromkeys(challenge.KEYS, Action.CHALLENGE)
_RULE_KEYS = ("name", "description", "action", *_MATCHERS, "score", *_ACTION_KEYS)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_METHOD = re.compile(r"[A-Z]+")


@dataclass(frozen=True, slots=True)
class Policy:
    label: str
    reservation: Reservation
    rules: tuple[Rule, ...]
    default: Verdict
    enforce: bool = True  # False is shadow mode: blocks are logged, not applied
    licences: Licences = Licences()
    trap: Trap | None = None  # the robots.txt trap, if the policy sets one
    address: str = ""  # the label's postal address (lines), for notices
    suspicion: Weights = Weights()  # what each signal adds to a request's score


def load_policy(
    path: Path, catalogue: Catalogue, problems: list[Problem], vocabulary: Vocabulary | None = None
) -> Policy:
    """Load and validate `path`; append each problem found to `problems`.

    Without a `vocabulary`, network, signal and flag names are not checked.
    """
    report = yamlsource.Report(str(path))
    policy = _parse(yamlsource.load(path, report), catalogue, report, vocabulary)
    problems.extend(report.problems)
    return policy


def _parse(
    data: Any, catalogue: Catalogue, report: yamlsource.Report, vocabulary: Vocabulary | None
) -> Policy:
    fallback = Policy("", Reservation(), (), Verdict(Action.ALLOW, "default"))
    if data is None:
        if not report.problems:
            report.add(None, "the policy is empty")
        return fallback
    if not isinstance(data, dict):
        report.add(yamlsource.line_of(data), "expected a mapping")
        return fallback
    for key in yamlsource.unknown_keys(data, _TOP_KEYS):
        message = yamlsource.unknown_key(key, _TOP_KEYS)
        report.add(yamlsource.line_of(data, key), message, field=key)
    if data.get("version", 1) != 1:
        report.add(yamlsource.line_of(data, "version"), "only version 1 exists", field="version")
    label = data.get("label", "")
    if not isinstance(label, str) or has_control(label):
        report.add(yamlsource.line_of(data, "label"), "must be a single-line string", field="label")
        label = ""
    line = yamlsource.line_of(data, "reservation")
    reservation = parse_reservation(data.get("reservation", {}), report, line)
    rules = _parse_rules(data.get("rules", []), data, catalogue, report, vocabulary)
    default = _parse_default(data, report)
    licences = parse_licences(data.get("licences"), report, yamlsource.line_of(data, "licences"))
    _check_licence_rules(rules, licences, data, report)
    trap = None
    if "trap" in data:
        trap = parse_trap(data["trap"], report, yamlsource.line_of(data, "trap"))
    enforce = _parse_enforce(data, report)
    suspicion = parse_weights(data.get("suspicion"), report, yamlsource.line_of(data, "suspicion"))
    _check_thresholds(rules, suspicion, data, report)
    address = data.get("address", "")
    if not isinstance(address, str):
        report.add(yamlsource.line_of(data, "address"), "must be a string", field="address")
        address = ""
    return Policy(
        label, reservation, rules, default, enforce, licences, trap, address.strip(), suspicion
    )


def _check_thresholds(
    rules: tuple[Rule, ...], weights: Weights, data: Any, report: yamlsource.Report
) -> None:
    """A `score: ">= N"` (or "< N") no request can reach is a rule that never matches."""
    ceiling, floor = weights.ceiling(), weights.floor()
    node = data.get("rules")
    entries = list(enumerate(node)) if isinstance(node, list) else []
    by_name = {e.get("name"): (i, e) for i, e in entries if isinstance(e, dict)}
    for rule in rules:
        threshold = rule.score
        if threshold is None:
            continue
        upward = threshold.operator in (">=", ">")
        bound = ceiling if upward else floor
        if threshold.accepts(bound):
            continue
        index, entry = by_name.get(rule.name, (-1, None))
        report.add(
            yamlsource.line_of(entry, "score"),
            f"no request can reach {threshold}: the weights sum to at "
            f"{'most' if upward else 'least'} {bound:g}",
            rule=_label(index + 1, rule.name),
            field="score",
        )


def _check_licence_rules(
    rules: tuple[Rule, ...], licences: Licences, data: Any, report: yamlsource.Report
) -> None:
    if licences.configured:
        return
    for rule in rules:
        if rule.action is Action.LICENCE:
            report.add(
                yamlsource.line_of(data, "rules"),
                "action 'licence' needs a 'licences:' section with public_keys or listed tokens",
                rule=rule.name,
                field="action",
            )


def _parse_enforce(data: dict[str, Any], report: yamlsource.Report) -> bool:
    value = data.get("enforce", True)
    if not isinstance(value, bool):
        line = yamlsource.line_of(data, "enforce")
        report.add(line, f"must be true or false, not {value!r}", field="enforce")
        return True
    return value


def _parse_default(data: dict[str, Any], report: yamlsource.Report) -> Verdict:
    value = data.get("default")
    line = yamlsource.line_of(data, "default")
    if "default" not in data:
        report.add(
            yamlsource.line_of(data),
            "missing (say 'default: allow' or 'default: block')",
            field="default",
        )
    elif value not in set(Action):
        report.add(
            line, f"unknown action {value!r}; expected one of {_choices(Action)}", field="default"
        )
    else:
        return Verdict(Action(value), "default")
    return Verdict(Action.ALLOW, "default")


def _parse_rules(
    node: Any,
    data: Any,
    catalogue: Catalogue,
    report: yamlsource.Report,
    vocabulary: Vocabulary | None,
) -> tuple[Rule, ...]:
    if not isinstance(node, list):
        report.add(yamlsource.line_of(data, "rules"), "must be a list of rules", field="rules")
        return ()
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(node):
        line = yamlsource.line_of(node, index)
        rule = _parse_rule(entry, index + 1, line, catalogue, report, vocabulary)
        if rule is None:
            continue
        if rule.name in seen:
            report.add(
                yamlsource.line_of(entry, "name"),
                f"duplicate name; rule {seen[rule.name]} has it too",
                rule=_label(index + 1, rule.name),
                field="name",
            )
        seen.setdefault(rule.name, index + 1)
        rules.append(rule)
    return tuple(rules)


def _parse_rule(
    entry: Any,
    number: int,
    line: int | None,
    catalogue: Catalogue,
    report: yamlsource.Report,
    vocabulary: Vocabulary | None = None,
) -> Rule | None:
    if not isinstance(entry, dict):
        report.add(line, "each rule must be a mapping", rule=f"rule {number}")
        return None
    name = entry.get("name")
    label = _label(number, name if isinstance(name, str) else None)
    before = len(report.problems)

    def bad(key: str, message: str) -> None:
        report.add(yamlsource.line_of(entry, key), message, rule=label, field=key)

    for key in yamlsource.unknown_keys(entry, _RULE_KEYS):
        bad(key, yamlsource.unknown_key(key, _RULE_KEYS, "a rule"))
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        if "name" in entry:
            bad("name", "must be a word of letters, digits, '-', '_' or '.'")
        else:
            report.add(line, "missing", rule=label, field="name")
    action = _parse_action(entry, line, label, report)
    matchers = {
        key: _parse_matcher(key, entry[key], (catalogue, vocabulary), bad)
        for key in _MATCHERS
        if key in entry
    }
    if "score" in entry:
        matchers["score"] = yamlsource.required(entry, "score", parse_threshold, bad)
    if not matchers:
        choices = ", ".join((*_MATCHERS, "score"))
        report.add(line, f"a rule needs at least one matcher ({choices})", rule=label)
    description = entry.get("description", "")
    if not isinstance(description, str):
        bad("description", "must be a string")
    extras = _parse_action_fields(entry, action, bad)
    if len(report.problems) > before or action is None:
        return None
    return Rule(
        name=str(name),
        action=action,
        description=str(description),
        agents=matchers.get("agent"),
        operators=matchers.get("operator"),
        purposes=matchers.get("purpose"),
        identities=matchers.get("identity"),
        hosts=matchers.get("host"),
        paths=matchers.get("path"),
        methods=matchers.get("method"),
        networks=matchers.get("network"),
        signals=matchers.get("signals"),
        flagged=matchers.get("flagged"),
        score=matchers.get("score"),
        **extras,
    )


def _parse_action_fields(entry: dict[str, Any], action: Action | None, bad: Any) -> Any:
    """`price` for charge, `rate` (and `per`) for throttle, proxy.config.challenge's
    fields for challenge; nowhere else."""
    for key, needs in _ACTION_KEYS.items():
        if key in entry and action is not None and action is not needs:
            bad(key, f"only a rule with action '{needs}' has {key!r}")
    fields: dict[str, Any] = {}
    if action is Action.CHARGE:
        fields["price"] = _parsed(entry, "price", parse_price, bad, "a price like 'USD 0.01'")
    if action is Action.THROTTLE:
        fields["rate"] = _parsed(entry, "rate", parse_rate, bad, "a rate like '10/s burst 20'")
        per = entry.get("per", "agent")
        if per not in ("agent", "client"):
            bad("per", f"must be 'agent' or 'client', not {per!r}")
        fields["per_client"] = per == "client"
    if action is Action.CHALLENGE:
        fields["challenge"] = challenge.parse_challenge(entry, bad)
    return fields


def _parsed(entry: dict[str, Any], key: str, parse: Any, bad: Any, example: str) -> Any:
    return yamlsource.required(
        entry, key, parse, bad, f"missing: a rule with this action needs {example}"
    )


def _parse_action(
    entry: dict[str, Any], line: int | None, label: str, report: yamlsource.Report
) -> Action | None:
    action = entry.get("action")
    where = yamlsource.line_of(entry, "action")
    if "action" not in entry:
        report.add(line, "missing", rule=label, field="action")
    elif action not in set(Action):
        report.add(
            where,
            f"unknown action {action!r}; expected one of {_choices(Action)}",
            rule=label,
            field="action",
        )
    else:
        return Action(action)
    return None


def _parse_matcher(
    key: str, value: Any, names: tuple[Catalogue, Vocabulary | None], bad: Any
) -> Any:
    values = yamlsource.string_list(value)
    if not values:
        bad(key, "must be a string or a non-empty list of strings")
        return None
    catalogue, vocabulary = names
    try:
        if key in _NAMED:
            return _NAMED[key](values, vocabulary)
        return _COMPILERS[key](values, catalogue)
    except ValueError as e:
        bad(key, str(e))
        return None


def _agents(values: list[str], catalogue: Catalogue) -> frozenset[str]:
    for v in values:
        if catalogue.by_name(v) is None:
            raise ValueError(f"unknown agent {v!r}; names are those of rules/agents/*.yaml")
    return frozenset(v.lower() for v in values)


def _operators(values: list[str], catalogue: Catalogue) -> frozenset[str]:
    for v in values:
        if v not in catalogue.operators:
            raise ValueError(f"unknown operator {v!r}; operators are those of rules/agents/*.yaml")
    return frozenset(values)


def _enum_set(enum: Any) -> Any:
    def compile_(values: list[str], catalogue: Catalogue) -> frozenset[Any]:
        for v in values:
            if v not in set(enum):
                raise ValueError(
                    f"unknown {enum.__name__.lower()} {v!r}; expected one of {_choices(enum)}"
                )
        return frozenset(enum(v) for v in values)

    return compile_


def _methods(values: list[str], catalogue: Catalogue) -> frozenset[str]:
    for v in values:
        if _METHOD.fullmatch(v.upper()) is None:
            raise ValueError(f"{v!r} is not an HTTP method")
    return frozenset(v.upper() for v in values)


_COMPILERS: dict[str, Any] = {
    "agent": _agents,
    "operator": _operators,
    "purpose": _enum_set(Purpose),
    "identity": _enum_set(Identity),
    "host": lambda values, _: compile_hosts(values),
    "path": lambda values, _: compile_paths(values),
    "method": _methods,
}


def _networks(values: list[str], vocabulary: Vocabulary | None) -> frozenset[str]:
    known = {DATACENTER, CRAWLER_RANGE}
    if vocabulary is not None:
        known |= vocabulary.providers
        for v in values:
            if v not in known:
                choices = ", ".join(sorted(known))
                raise ValueError(f"unknown network {v!r}; expected one of {choices}")
    return frozenset(values)


def _named(kind: str, field: str) -> Any:
    """A compiler checking names against one set of the vocabulary (when there is one)."""

    def compile_(values: list[str], vocabulary: Vocabulary | None) -> frozenset[str]:
        known: frozenset[str] | None = getattr(vocabulary, field, None)
        for v in values:
            if known is not None and v not in known:
                choices = ", ".join(sorted(known))
                raise ValueError(f"unknown {kind} {v!r}; expected one of {choices}")
        return frozenset(values)

    return compile_


_NAMED: dict[str, Any] = {
    "network": _networks,
    "signals": _named("signal", "signals"),
    "flagged": _named("flag", "flags"),
}


def _label(number: int, name: str | None) -> str:
    return f'rule {number} ("{name}")' if name else f"rule {number}"


def _choices(enum: Any) -> str:
    return ", ".join(str(e) for e in enum)
