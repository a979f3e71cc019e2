"""Undeclared: a request from an operator's crawler range that does not say it is theirs.

An operator publishes the addresses its crawlers fetch from. A request from one of
them whose user agent names none of that operator's agents (a Chrome string from
GPTBot's range) is that operator's traffic without the declaration: `undeclared`.
It is classified as the operator's agent of that range whose purpose comes first
in `PURPOSE_RANK` (the most restrictive: ai-training before search), so rules on
purpose or agent treat it like that declared agent, and `identity: undeclared`
singles it out.

A claim to the operator's own agent is left to verification. A claim to another
operator's agent from the range is undeclared too: the address says whose it is.
The lookup is the one the classify step already made (`RequestInfo.network`), so
this costs nothing for an address outside every crawler range.
"""

from __future__ import annotations

from collections.abc import Iterable

from proxy.model import PURPOSE_RANK, Agent, Classification, Identity, Network


def undeclared(
    agents: Iterable[Agent], network: Network | None, claimed: Agent | None
) -> Classification | None:
    """The undeclared classification of a request, or None when it is not undeclared."""
    if network is None or network.crawler_range is None or network.crawler_operator is None:
        return None
    if claimed is not None and claimed.operator == network.crawler_operator:
        return None  # the operator's own agent: verification decides
    agent = range_agent(agents, network.crawler_range)
    if agent is None:
        return None
    return Classification(agent, Identity.UNDECLARED)


def range_agent(agents: Iterable[Agent], crawler_range: str) -> Agent | None:
    """The agent fetching from `crawler_range` with the most restrictive purpose."""
    candidates = [a for a in agents if crawler_range in a.ip_ranges]
    return min(candidates, key=lambda a: (PURPOSE_RANK[a.purpose], a.name), default=None)
