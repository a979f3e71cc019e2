"""Classify a request: which agent its User-Agent claims to be.

Until verification exists (IP ranges, reverse DNS, signatures), a named agent is
only `claimed`, and a request that names no agent is `none`.
"""

from __future__ import annotations

from proxy.config.catalogue import Catalogue
from proxy.model import Classification, Identity, RequestInfo

UNKNOWN = Classification(None, Identity.NONE)


def classify(catalogue: Catalogue, request: RequestInfo) -> Classification:
    agent = catalogue.match(request.user_agent)
    if agent is None:
        return UNKNOWN
    return Classification(agent, Identity.CLAIMED)
