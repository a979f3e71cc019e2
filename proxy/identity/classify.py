"""Classify a request: which agent its User-Agent claims to be.

Until verification exists (IP ranges, reverse DNS, signatures), a named agent is
only `claimed`, and a request that names no agent is `none`. A request from an
operator's crawler range naming none of its agents is `undeclared` (proxy.identity.undeclared).
"""

from __future__ import annotations

from proxy.config.catalogue import Catalogue
from proxy.identity.undeclared import undeclared
from proxy.model import Classification, Identity, RequestInfo

UNKNOWN = Classification(None, Identity.NONE)


def classify(catalogue: Catalogue, request: RequestInfo) -> Classification:
    agent = catalogue.match(request.user_agent)
    hidden = undeclared(catalogue.agents, request.network, agent)
    if hidden is not None:
        return hidden
    if agent is None:
        return UNKNOWN
    return Classification(agent, Identity.CLAIMED)
