"""Replay past requests through new rules, to see what a change would do.

Each access-log record is turned back into the request the proxy saw (method,
host, path, user agent, client address) and the identity it had at the time;
the agent is classified again with the new catalogue, and the new policy
decides. Nothing is sent anywhere: the answer is a count of changed decisions
per (old rule → new rule) with a few examples of each.

Identity cannot be re-verified offline (reverse DNS answers and key directories
change), so the recorded identity is kept when the new catalogue names the same
agent; a request the new catalogue attributes to a different agent is "claimed".

The suspicion score is recomputed with the new weights from what the record holds:
`optout.network` (and `crawler_range`), `optout.signals_seen`, `optout.flagged` and
the identity, so `network:`, `signals:`, `flagged:` and `score:` rules replay too.
What cannot be recomputed is taken as recorded: whether the behaviour signals
(high-rate, no-robots-crawl) would fire depends on the client's earlier requests,
and a consistency check needs headers and a TLS fingerprint the record does not
keep. A record written before scoring has no behaviour signals; those are counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from proxy.decision.decide import decide
from proxy.identity.classify import classify
from proxy.model import Classification, Identity, Network, RequestInfo
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
    rescored: int = 0  # records whose suspicion score the new weights change
    unscored: int = 0  # records without optout.score: logged before scoring


def replay(records: Iterable[dict[str, Any]], ruleset: Ruleset) -> ReplayResult:
    result = ReplayResult()
    for record in records:
        request = request_of(record)
        if request is None:
            result.skipped += 1
            continue
        result.records += 1
        found = _identity(record, request, ruleset)
        score = ruleset.policy.suspicion.score(request, found).total
        verdict = decide(ruleset.policy, request, found, score=score)
        result.by_rule[(verdict.rule, verdict.action.value)] += 1
        old = record.get("optout") or {}
        recorded = old.get("score")
        if not isinstance(recorded, int | float) or isinstance(recorded, bool):
            result.unscored += 1
        elif recorded != score:
            result.rescored += 1
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
            examples.append(_example(record) | {"score": score})
    return result


def request_of(record: dict[str, Any]) -> RequestInfo | None:
    """The request a record describes, or None for records that describe none."""
    try:
        http = record["http"]["request"]
        url = record["url"]
        optout = record.get("optout") or {}
        return RequestInfo(
            method=str(http["method"]),
            host=str(url.get("domain", "")),
            path=str(url["path"]),
            user_agent=str(record.get("user_agent", {}).get("original", "")),
            client_ip=str(record.get("source", {}).get("ip", "")),
            network=_network(optout),
            signals=_names(optout.get("signals_seen")),
            flagged=_names(optout.get("flagged")),
        )
    except (KeyError, TypeError, AttributeError):
        return None


def _network(optout: dict[str, Any]) -> Network | None:
    """The recorded network; None when the address was not looked up (or it is unreadable)."""
    place = optout.get("network")
    if not isinstance(place, dict) or not isinstance(place.get("provider"), str):
        return None

    def text(value: object) -> str | None:
        return value if isinstance(value, str) else None

    return Network(
        place["provider"],
        text(place.get("service")),
        text(place.get("region")),
        text(optout.get("crawler_range")),
        text(optout.get("undeclared_operator")),
    )


def _names(value: object) -> frozenset[str]:
    if not isinstance(value, list):
        return frozenset()
    return frozenset(v for v in value if isinstance(v, str))


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
                f"{example['path']} at {example['@timestamp']} (score {example['score']:g})"
            )
    lines.append(
        f"suspicion score: recomputed with the new weights from each record's network, "
        f"signals_seen, flagged and identity; {result.rescored} scores changed"
    )
    lines.append(
        "  taken as recorded (not recomputable offline): the behaviour signals high-rate and "
        "no-robots-crawl, the consistency checks, the identity"
    )
    if result.unscored:
        lines.append(
            f"  {result.unscored} records have no optout.score (logged before scoring): "
            "they carry no behaviour signals"
        )
    lines.append("decisions under the new rules:")
    for (rule, action), count in sorted(result.by_rule.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {count:>8}  {action:<8} {rule}")
    return "\n".join(lines) + "\n"
