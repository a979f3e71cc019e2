"""One access-log record per request, in Elastic Common Schema names.

The record says who asked (client address, user agent, the agent it claims to
be and how far that is established), what was decided and by which rule, what
was answered, and which reservation signals the answer carried: what a label
needs to show that a crawler was told, and fetched anyway.
"""

from __future__ import annotations

import math
import time
from typing import Any

from proxy.config.weights import Score
from proxy.licensing.tokens import LicenceResult
from proxy.model import Classification, Identity, RequestInfo, Verdict
from proxy.prices import Price

ECS_VERSION = "8.17.0"  # the Elastic Common Schema the field names follow
_MAX_FIELD = 2048
_TRUNCATED = "…[truncated]"


def build_record(
    *,
    started: float,
    duration_ns: int,
    request: RequestInfo,
    found: Classification,
    verdict: Verdict | None,
    status: int | None,
    body_bytes: int | None,
    signals: tuple[str, ...],
    error: str | None = None,
    query: str = "",
    notes: tuple[str, ...] = (),
    shadow: Verdict | None = None,
    act: dict[str, Any] | None = None,
    request_id: str | None = None,
    score: Score | None = None,
) -> dict[str, Any]:
    agent = found.agent
    action = verdict.action.value if verdict else "error"
    record: dict[str, Any] = {
        "@timestamp": iso_timestamp(started),
        "ecs": {"version": ECS_VERSION},
        "event": {
            "kind": "event",
            "category": ["web"],
            "type": ["error"] if verdict is None else ["access"],
            "action": action,
            "duration": duration_ns,
            "outcome": _outcome(status, error),
        },
        "source": {"ip": request.client_ip},
        "url": {"domain": _clip(request.host), "path": _clip(request.path)},
        "http": {"request": {"method": _clip(request.method)}, "response": {}},
        "user_agent": {"original": _clip(request.user_agent)},
        "optout": {
            "agent": agent.name if agent else None,
            "operator": agent.operator if agent else None,
            "purpose": agent.purpose.value if agent else None,
            "identity": found.identity.value,
            "rule": verdict.rule if verdict else None,
            "signals": list(signals),
        },
    }
    record["optout"].update(unmask_fields(request, found))
    if request.ja4 or request.tls_version:
        record["tls"] = tls_fields(request)
    if found.method:
        record["optout"]["verified_by"] = found.method
    if found.failure:
        record["optout"]["verification_failure"] = _clip(found.failure)
    if score is not None:  # optout.score, and score_parts when a signal counted
        record["optout"].update(score.fields())
    if shadow is not None:
        # Shadow mode: what the rules decided and the proxy did not apply.
        record["optout"]["shadow"] = {"action": shadow.action.value, "rule": shadow.rule}
    if act:
        record["optout"].update(act)
    if notes:
        record["optout"]["notes"] = [_clip(n) for n in notes]
    if query:
        record["url"]["query"] = _clip(query)
    if request_id:  # the reference a block page gave the client to quote
        record["http"]["request"]["id"] = request_id
    response = record["http"]["response"]
    if status is not None:
        response["status_code"] = status
    if body_bytes is not None:
        response["body"] = {"bytes": body_bytes}
    if error:
        record["error"] = {"message": _clip(error)}
    if not response:  # ECS: no empty objects
        del record["http"]["response"]
    return record


def unmask_fields(request: RequestInfo, found: Classification | None = None) -> dict[str, Any]:
    """What the request showed besides its claim: network, client family, signals, flags."""
    fields: dict[str, Any] = {}
    network = request.network
    if network is not None:
        place = {"provider": network.provider}
        place |= {k: v for k, v in (("service", network.service), ("region", network.region)) if v}
        fields["network"] = place
        if network.crawler_range:
            fields["crawler_range"] = network.crawler_range
        if found is not None and found.identity is Identity.UNDECLARED:
            fields["undeclared_operator"] = network.crawler_operator
    if request.client_family:
        fields["client_family"] = request.client_family
    if request.signals:
        fields["signals_seen"] = sorted(request.signals)
    if request.flagged:
        fields["flagged"] = sorted(request.flagged)
    return fields


def tls_fields(request: RequestInfo) -> dict[str, Any]:
    """ECS tls.*: the version, and the client's JA4 and SNI where known."""
    client = {k: v for k, v in (("ja4", request.ja4), ("server_name", request.server_name)) if v}
    fields: dict[str, Any] = {"client": client} if client else {}
    if request.tls_version:
        fields |= {"version": request.tls_version, "version_protocol": "tls"}
    return fields


def act_fields(
    outcome: str | None,
    verdict: Verdict | None,
    licence: LicenceResult | None,
    charged: Price | None,
) -> dict[str, Any]:
    """What acting on the verdict did: outcome, licensee, price charged, licence failure."""
    fields: dict[str, Any] = {}
    if outcome:
        fields["outcome"] = outcome
    if verdict is not None and verdict.licensee:
        fields["licensee"] = verdict.licensee
    if charged is not None:
        fields["charged"] = {"currency": charged.currency, "amount": str(charged.amount)}
    if licence is not None and not licence.ok:
        fields["licence"] = {
            "error": licence.error,
            "description": _clip(licence.description),
            **({"licensee": licence.licensee} if licence.licensee else {}),
        }
    return fields


def _outcome(status: int | None, error: str | None) -> str:
    if error or status is None:
        return "failure"
    return "success" if status < 400 else "failure"


def iso_timestamp(timestamp: float) -> str:
    """`2026-11-25T18:50:17.123Z`, as datetime's isoformat gives it, with the seconds cached.

    Formatting a datetime per record was a visible part of a blocked request's CPU;
    the records of one second share all but their milliseconds.
    """
    fraction, whole = math.modf(timestamp)
    micros = round(fraction * 1e6)  # as datetime.fromtimestamp rounds to microseconds
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    second = int(whole)
    if second != _second[0]:
        _second[:] = [second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))]
    return f"{_second[1]}.{micros // 1000:03d}Z"


_second: list[Any] = [None, ""]  # the last second formatted, and its text


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_FIELD else text[:_MAX_FIELD] + _TRUNCATED
