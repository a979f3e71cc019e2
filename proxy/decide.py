"""Decide what to do with a request: the first matching rule wins, else the default."""

from __future__ import annotations

from proxy.model import Classification, RequestInfo, Verdict
from proxy.policy import Policy


def decide(policy: Policy, request: RequestInfo, found: Classification) -> Verdict:
    for rule in policy.rules:
        if rule.matches(request, found):
            return Verdict(rule.action, rule.name)
    return policy.default
