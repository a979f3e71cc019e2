"""What the engine adapters share: the current rules, the log, and the limits.

The addons read `pipeline.ruleset` once per request and keep that object on the
flow, so a request is decided, signalled and logged under one version of the rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from proxy.ipranges import Network
from proxy.logwriter import LogWriter
from proxy.ruleset import Ruleset
from proxy.verify import Verifier

# Keys under which the addons pass results to each other on flow.metadata.
RULESET = "optout.ruleset"
REQUEST = "optout.request"
CLASSIFICATION = "optout.classification"
SIGNED = "optout.signed"  # the parsed Web Bot Auth signature, if any
VERDICT = "optout.verdict"
SIGNALS = "optout.signals"
RESERVED = "optout.reserved"
BUFFER = "optout.buffer"  # True: a later addon rewrites the body, do not stream
NOTES = "optout.notes"  # what was odd about the upstream answer, for the log
BYTES = "optout.bytes"
LOGGED = "optout.logged"


@dataclass(slots=True)
class Pipeline:
    ruleset: Ruleset
    log: LogWriter
    verifier: Verifier | None = None  # None: identities are only claimed
    trusted_proxies: tuple[Network, ...] = ()
    html_limit: int = 2 * 1024 * 1024  # HTML up to this size is buffered; all else streams
