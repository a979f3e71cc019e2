"""Decide what to do with a request: the first matching rule wins, else the default.

A few paths are always free, whatever the rules: a crawler that is blocked must
still be able to read the reservation (robots.txt, the well-known documents,
ai.txt) and the site's security contact.
"""

from __future__ import annotations

from proxy.model import Action, Classification, RequestInfo, Verdict
from proxy.policy import Policy

ALWAYS_FREE = Verdict(Action.ALLOW, "always-free")
_FREE_PATHS = frozenset({"/robots.txt", "/ai.txt", "/security.txt"})
_FREE_PREFIXES = ("/.well-known/",)


def decide(policy: Policy, request: RequestInfo, found: Classification) -> Verdict:
    if is_free(request.path, policy):
        return ALWAYS_FREE
    for rule in policy.rules:
        if rule.matches(request, found):
            return Verdict(rule.action, rule.name)
    return policy.default


def is_free(path: str, policy: Policy) -> bool:
    return (
        path in _FREE_PATHS
        or path.startswith(_FREE_PREFIXES)
        or path == policy.reservation.rsl_path
    )
