"""What the served robots.txt must say, derived from the policy.

The tokens disallowed everywhere are the robots.txt tokens of every catalogued
agent the rules block (decided as a claimed request for "/" on that host), so
robots.txt and enforcement agree: a crawler that obeys robots.txt never meets a
403, and one that ignores it is stopped. Rules that block an agent only on some
paths are enforced by the proxy but not written into robots.txt.

Many parsers (Python's `urllib.robotparser`, robotexclusionrulesparser, protego given
a full user agent) apply a group to every crawler whose name *contains* one of its
tokens. So a token is written only if it is one product token (letters, digits, `_`
and `-`: no spaces, no version) and no agent left open holds it inside one of its
own tokens (`Spider` inside `Baiduspider`). A token left out still has its agent
blocked by the proxy; the catalogue entry says which form is written instead.
"""

from __future__ import annotations

import re

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
        trap = policy.trap.path if policy.trap else None
        return RobotsPolicy(_blocked_tokens(policy, catalogue, host), None, None, trap_path=trap)
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
        trap_path=policy.trap.path if policy.trap else None,
    )


_PRODUCT = re.compile(r"[A-Za-z0-9_-]+")


def _blocked_tokens(policy: Policy, catalogue: Catalogue, host: str) -> tuple[str, ...]:
    request = RequestInfo("GET", host, "/", "")
    blocked = [
        agent
        for agent in catalogue.agents
        if decide(policy, request, Classification(agent, Identity.CLAIMED)).action is Action.BLOCK
    ]
    names = {a.name for a in blocked}
    open_tokens = {
        t.lower()
        for agent in catalogue.agents
        if agent.name not in names
        for t in (*agent.robots_tokens, *agent.user_agents)
    }
    return tuple(
        token for agent in blocked for token in agent.robots_tokens if writable(token, open_tokens)
    )


def writable(token: str, open_tokens: set[str]) -> bool:
    """Whether `token` can be written so that substring-matching parsers read it right."""
    lowered = token.lower()
    return _PRODUCT.fullmatch(token) is not None and not any(
        lowered in other for other in open_tokens
    )
