"""Decide what to do with a request: the first matching rule wins, else the default.

A few paths are always free, whatever the rules: a crawler that is blocked must
still be able to read the reservation (robots.txt, the well-known documents,
ai.txt, the RSL licence), the sitemaps and the site's security contact.
"""

from __future__ import annotations

import re

from proxy.config.policy import Policy
from proxy.licensing.tokens import LicenceResult
from proxy.model import Action, Classification, Identity, RequestInfo, Verdict

ALWAYS_FREE = Verdict(Action.ALLOW, "always-free")
_FREE_PATHS = frozenset({"/robots.txt", "/ai.txt", "/security.txt"})
_FREE_PREFIXES = ("/.well-known/",)
_SITEMAP = re.compile(r"/sitemap[\w.-]*\.xml(\.gz)?")


def decide(
    policy: Policy,
    request: RequestInfo,
    found: Classification,
    licence: LicenceResult | None = None,
    score: float | None = None,
) -> Verdict:
    """The verdict for a request; `licence` is the check of the licence it presented.

    A valid licence allows the request whatever the rules say of its purpose: that
    is what the licence was issued for. An invalid one changes nothing here; a
    `licence` rule then answers 401 with the reason.
    """
    if is_free(request.path, policy):
        return ALWAYS_FREE
    if licence is not None and licence.ok:
        return Verdict(Action.ALLOW, "licence", licensee=licence.licensee)
    if score is None:  # the suspicion score `score:` rules compare (proxy.config.weights)
        score = policy.suspicion.score(request, found).total
    for rule in policy.rules:
        if rule.action is Action.CHALLENGE and declared(found):
            continue  # a crawler that says what it is gets its own rule, never a puzzle
        if rule.matches(request, found, score):
            return Verdict(
                rule.action,
                rule.name,
                rule.price,
                rule.rate,
                rule.per_client,
                challenge=rule.challenge,
            )
    return policy.default


def declared(found: Classification) -> bool:
    """A known crawler naming itself, verified or not yet disproved: challenges skip it."""
    return found.agent is not None and found.identity in (Identity.VERIFIED, Identity.CLAIMED)


def is_free(path: str, policy: Policy) -> bool:
    return (
        path in _FREE_PATHS
        or path.startswith(_FREE_PREFIXES)
        or path == policy.reservation.rsl_path
        or policy.licences.serves(path)
        or _SITEMAP.fullmatch(path) is not None
    )
