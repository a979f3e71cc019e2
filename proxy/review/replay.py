"""Replay past requests through new rules, to see what a change would do.

Each access-log record is turned back into the request the proxy saw (method,
host, path, user agent, client address) and the identity it had at the time;
the agent is classified again with the new catalogue, and the new policy
decides. Nothing is sent anywhere: the answer is a count of changed decisions
per (old rule → new rule) with a few examples of each.

Identity cannot be re-verified offline (reverse DNS answers and key directories
change), so the recorded identity is kept when the new catalogue names the same
agent; a request the new catalogue attributes to a different agent is "claimed".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from proxy.decision.decide import decide
from proxy.identity.classify import classify
from proxy.model import Classification, Identity, RequestInfo
from proxy.ruleset import Ruleset

_EXAMPLES = 3


@dataclass(frozen=True, slots=True)
class Change:
    old_action: str
    old_rule: str
    new_action: str
    new_rule: str


@dataclass(slots=True)
class ReplayResult:
    records: int = 0
    skipped: int = 0  # records that are not requests (log gaps, malformed)
    unchanged: int = 0
    changes: Counter[Change] = field(default_factory=Counter)
    examples: dict[Change, list[dict[str, Any]]] = field(default_factory=dict)
    by_rule: Counter[tuple[str, str]] = field(default_factory=Counter)  # new (rule, action)


def replay(records: Iterable[dict[str, Any]], ruleset: Ruleset) -> ReplayResult:
    result = ReplayResult()
    for record in records:
        request = request_of(record)
        if request is None:
            result.skipped += 1
            continue
        result.records += 1
        verdict = decide(ruleset.policy, request, _identity(record, request, ruleset))
        result.by_rule[(verdict.rule, verdict.action.value)] += 1
        old = record.get("optout") or {}
        change = Change(
            str(record.get("event", {}).get("action")),
            str(old.get("rule")),
            verdict.action.value,
            verdict.rule,
        )
        if (change.old_action, change.old_rule) == (change.new_action, change.new_rule):
            result.unchanged += 1
            continue
        result.changes[change] += 1
        examples = result.examples.setdefault(change, [])
        if len(examples) < _EXAMPLES:
            examples.append(_example(record))
    return result


def request_of(record: dict[str, Any]) -> RequestInfo | None:
    """The request a record describes, or None for records that describe none."""
    try:
        http = record["http"]["request"]
        url = record["url"]
        return RequestInfo(
            method=str(http["method"]),
            host=str(url.get("domain", "")),
            path=str(url["path"]),
            user_agent=str(record.get("user_agent", {}).get("original", "")),
            client_ip=str(record.get("source", {}).get("ip", "")),
        )
    except (KeyError, TypeError, AttributeError):
        return None


def _identity(record: dict[str, Any], request: RequestInfo, ruleset: Ruleset) -> Classification:
    found = classify(ruleset.catalogue, request)
    old = record.get("optout") or {}
    if found.agent is None:
        return found
    if found.agent.name == old.get("agent"):
        try:
            return Classification(found.agent, Identity(str(old.get("identity"))))
        except ValueError:
            pass
    return Classification(found.agent, Identity.CLAIMED)


def _example(record: dict[str, Any]) -> dict[str, Any]:
    optout = record.get("optout") or {}
    return {
        "@timestamp": record.get("@timestamp"),
        "agent": optout.get("agent"),
        "identity": optout.get("identity"),
        "path": record.get("url", {}).get("path"),
        "user_agent": record.get("user_agent", {}).get("original"),
    }


def render(result: ReplayResult) -> str:
    """The replay as text for a rule author."""
    lines = [
        f"{result.records} requests replayed, {result.unchanged} unchanged, "
        f"{sum(result.changes.values())} changed"
        + (f", {result.skipped} records skipped" if result.skipped else "")
    ]
    for change, count in result.changes.most_common():
        lines.append(
            f"  {count:>8}  {change.old_action} ({change.old_rule}) -> "
            f"{change.new_action} ({change.new_rule})"
        )
        for example in result.examples[change]:
            lines.append(
                f"            e.g. {example['agent'] or '(no agent)'} "
                f"{example['path']} at {example['@timestamp']}"
            )
    lines.append("decisions under the new rules:")
    for (rule, action), count in sorted(result.by_rule.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {count:>8}  {action:<8} {rule}")
    return "\n".join(lines) + "\n"
