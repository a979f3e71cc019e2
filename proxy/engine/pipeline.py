"""What the engine adapters share: the current rules, the log, the metrics and the limits.

The addons read `pipeline.ruleset` once per request and keep that object on the
flow; a reload (proxy.engine.reloader) replaces it with one assignment, so a request is
decided, signalled and logged under one version of the rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from proxy.evidence.privacy import Pseudonymiser
from proxy.identity.ipranges import Network
from proxy.identity.verify import Verifier
from proxy.ops.metrics import Metrics
from proxy.ruleset import Ruleset
from proxy.store.documents import DocumentStore
from proxy.store.logwriter import LogWriter
from proxy.store.shared import SharedState

# Keys under which the addons pass results to each other on flow.metadata.
RULESET = "optout.ruleset"
REQUEST = "optout.request"
CLASSIFICATION = "optout.classification"
SIGNED = "optout.signed"  # the parsed Web Bot Auth signature, if any
VERDICT = "optout.verdict"
SHADOW = "optout.shadow"  # the refusal that shadow mode decided and did not apply
LICENCE = "optout.licence"  # the check of the licence the request presented, if any
OUTCOME = "optout.outcome"  # what acting on the verdict did: blocked, charged, throttled...
CHARGED = "optout.charged"  # the price a charged request pays
SCORE = "optout.score"  # the request's suspicion score (proxy.config.weights.Score)
REFERENCE = "optout.reference"  # the request id a block page quotes (http.request.id)
SIGNALS = "optout.signals"
RESERVED = "optout.reserved"
BUFFER = "optout.buffer"  # True: a later addon rewrites the body, do not stream
NOTES = "optout.notes"  # what was odd about the upstream answer, for the log
SERVED = "optout.served"  # (kind, body) of a reservation document served, kept as evidence
BYTES = "optout.bytes"
LOGGED = "optout.logged"
COUNTED = "optout.counted"  # the metrics have counted this flow
EXTRA = "optout.extra"  # more optout.* fields for the record (a trap hit)


@dataclass(slots=True)
class Pipeline:
    ruleset: Ruleset
    log: LogWriter
    verifier: Verifier | None = None  # None: identities are only claimed
    trusted_proxies: tuple[Network, ...] = ()
    html_limit: int = 2 * 1024 * 1024  # HTML up to this size is buffered; all else streams
    shadow: bool = False  # decide and log, block nothing, whatever the policy's `enforce` says
    metrics: Metrics = field(default_factory=Metrics)
    privacy: str = "off"  # which client addresses the log pseudonymises (proxy.evidence.privacy)
    pseudonymiser: Pseudonymiser | None = None
    documents: DocumentStore | None = None  # served robots.txt, tdmrep.json, ai.txt
    ledger: LogWriter | None = None  # charges, hash-chained like the access log
    headersets: DocumentStore | None = None  # the reservation header sets responses carried
    state_dir: Path | None = None  # the proxy's own files (--state); None in unit tests
    checkpoint_key: bytes | None = None  # the label's public key (PEM), served at a well-known URL
    # Connection slots and time limits (addons/connguard.py); None: from the fd limit.
    max_connections: int | None = None
    head_timeout: float = 30.0
    idle_timeout: float = 75.0
    # The request header a TLS-terminating trusted proxy puts the client's JA4 in; "": none.
    ja4_header: str = ""
    worker: int | None = None  # of --workers: names this process's own ledgers and chain heads
    # Throttle buckets, flags and charge counts shared with other processes (--store);
    # None: this process's own, kept by the addons (the default, `memory`).
    shared: SharedState | None = None
