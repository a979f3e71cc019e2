"""mitmproxy addons: thin adapters between a flow and the core in `proxy/`.

Each turns flow data into the core's values, calls the core, and applies the
result to the flow. They run in the order of `default_addons()`, which is the
order of the pipeline: one form of the target and Host → route to the site →
classify → verify → the licence server → challenge answers → serve our own
documents → decide (and act) → robots.txt →
signals (headers, then meta tags) → metrics → log.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from addons.accesslog import AccessLog, log_refusal
from addons.challenge import Challenge, challenge_state
from addons.charge import Charge
from addons.classify import Classify
from addons.connguard import ConnectionGuard
from addons.decide import Decide
from addons.edge import Edge
from addons.fingerprint import Fingerprint
from addons.htmlmeta import HtmlMeta
from addons.limits import Limits
from addons.metrics import Metrics
from addons.olp import Olp
from addons.robots import Robots
from addons.signals import Signals
from addons.sites import Sites
from addons.sitetls import SiteTls
from addons.trap import Trap
from addons.verify import Verify
from addons.websocket import WebSocket
from addons.wellknown import WellKnown
from proxy.decision.trap import FlagStore, RobotsSeen
from proxy.engine.addonchain import Refused
from proxy.engine.pipeline import Pipeline


def default_addons(pipeline: Pipeline) -> list[Any]:
    # The trap's memory is the addons', which live across reloads.
    flags, robots = FlagStore(), RobotsSeen()
    challenges = challenge_state(pipeline)  # keys and spent answers, across reloads too
    return [
        ConnectionGuard(pipeline),
        Edge(pipeline),
        Limits(),
        WebSocket(),
        Sites(pipeline),
        Classify(pipeline),
        Fingerprint(pipeline, flags, robots),
        Verify(pipeline),
        Olp(pipeline),
        Challenge(pipeline, challenges),
        WellKnown(pipeline),
        Decide(pipeline, challenges),
        Robots(pipeline),
        Signals(pipeline),
        Charge(pipeline),
        HtmlMeta(pipeline),
        Trap(pipeline, robots),
        Metrics(pipeline),
        AccessLog(pipeline),
    ]


class Chain:
    """What the runner loads through the `optout_proxy` entry point (proxy.engine.addonchain)."""

    def pipeline(self, pipeline: Pipeline) -> list[Any]:
        return default_addons(pipeline)

    def tls(self, pipeline: Pipeline, state: Path, listener: str | None) -> SiteTls:
        return SiteTls(pipeline, state, listener)

    def refused(self, pipeline: Pipeline) -> Refused:
        return functools.partial(log_refusal, pipeline)


CHAIN = Chain()
