"""What the served robots.txt must say, derived from the policy.

The tokens disallowed everywhere are the robots.txt tokens of every catalogued
agent the rules block (decided as a claimed request for "/" on that host), so
robots.txt and enforcement agree: a crawler that obeys robots.txt never meets a
403, and one that ignores it is stopped. Rules that block an agent only on some
paths are enforced by the proxy but not written into robots.txt.
"""

from __future__ import annotations

from proxy.config.catalogue import Catalogue
from proxy.config.policy import Policy
from proxy.decision.decide import decide
from proxy.model import Action, Classification, Identity, RequestInfo
from proxy.signals.headers import content_usage
from proxy.signals.robotstxt import RobotsPolicy
from proxy.signals.wellknown import path_overrides


def robots_policy(policy: Policy, catalogue: Catalogue, host: str) -> RobotsPolicy:
    reservation = policy.reservation
    if not reservation.enabled:
        return RobotsPolicy(_blocked_tokens(policy, catalogue, host), None, None)
    reserved = reservation.reserved
    scoped = tuple(
        (pattern, content_usage(reservation, override.reserved))
        for override in path_overrides(reservation)
        if override.reserved != reserved
        for pattern in override.paths
    )
    signal = ", ".join(f"{k}={v}" for k, v in reservation.signals(reserved))
    return RobotsPolicy(
        reserved_tokens=_blocked_tokens(policy, catalogue, host),
        content_usage=content_usage(reservation, reserved),
        content_signal=signal,
        content_usage_paths=scoped,
        licences=(reservation.licence,) if reservation.licence else (),
    )


def _blocked_tokens(policy: Policy, catalogue: Catalogue, host: str) -> tuple[str, ...]:
    request = RequestInfo("GET", host, "/", "")
    return tuple(
        token
        for agent in catalogue.agents
        if decide(policy, request, Classification(agent, Identity.CLAIMED)).action is Action.BLOCK
        for token in agent.robots_tokens
    )
