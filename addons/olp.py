"""Olp: the licence server (RSL Open License Protocol) on the proxy's own host.

With `licences: {server: URL}` in the policy, requests under that URL's path are
answered here by proxy.licensing.olp (token, introspection, JWKS) and never reach
the upstream; Decide lets them through as always free. For every other request
this addon attaches the live verifier to the rules the request is decided under,
so `Authorization: License <jwt>` is checked against the current keys and
licensees. `rules/licensees.yaml` and the key directory are looked at (one stat
each) on every request, so a revocation applies to the next one. Each answer is
recorded in the licence ledger; secrets never are.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path

from mitmproxy import http

from proxy.config.licensees import LICENSEES_FILE, load_licensees
from proxy.engine.pipeline import REQUEST, RULESET, Pipeline
from proxy.errors import RuleError
from proxy.evidence.chain import head_file, worker_log
from proxy.licensing import keyfiles, oauth, olp
from proxy.licensing import ledger as licence_ledger
from proxy.licensing.clients import Registry, revocations
from proxy.licensing.jwttokens import KeySet
from proxy.licensing.verifier import Verifier
from proxy.ruleset import Ruleset
from proxy.store.logwriter import LogWriter

log = logging.getLogger(__name__)
ENDPOINT = "optout.olp"  # which licence-server endpoint a flow is for


class Olp:
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        state = pipeline.state_dir or Path("state")
        self.keys_dir = keyfiles.keys_dir(state)
        self._keys: KeySet | None = None
        self._keys_stamp = -2
        self._registry = Registry()
        self._registry_stamp: tuple[int, int] | None = None
        self._attached: dict[int, tuple[Ruleset, Ruleset]] = {}
        self._ledger: LogWriter | None = None
        self._state = state

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live or REQUEST not in flow.metadata:
            return
        ruleset: Ruleset = flow.metadata[RULESET]
        server = ruleset.policy.licences.server
        if server is None:
            return
        self._refresh(ruleset.directory / LICENSEES_FILE)
        flow.metadata[RULESET] = self._attach(ruleset)
        endpoint = server.endpoint(flow.metadata[REQUEST].path)
        if endpoint == "jwks" and flow.request.method in ("GET", "HEAD"):
            flow.response = _response(olp.jwks(self.keys()))
        elif endpoint is not None:
            flow.metadata[ENDPOINT] = (endpoint, server)

    def request(self, flow: http.HTTPFlow) -> None:
        found = flow.metadata.get(ENDPOINT)
        if found is None or flow.response or flow.error or not flow.live:
            return
        endpoint, server = found
        wire = oauth.Request(
            flow.request.method,
            flow.request.headers.get("content-type"),
            flow.request.headers.get("authorization"),
            flow.request.raw_content or b"",
        )
        now = time.time()
        if endpoint == "jwks":  # anything but GET or HEAD
            answer = oauth.error(405, oauth.INVALID_REQUEST, "use GET")
        else:
            handle = olp.token if endpoint == "token" else olp.introspect
            answer = handle(wire, server, self._registry, self.keys(), now)
        flow.response = _response(answer)
        if answer.event is not None:
            self._record(now, answer.event, flow.metadata[REQUEST].client_ip)

    def done(self) -> None:
        if self._ledger is not None:
            self._ledger.close()

    def keys(self) -> KeySet:
        stamp = keyfiles.stamp(self.keys_dir)
        if self._keys is None or stamp != self._keys_stamp:
            self._keys = keyfiles.load(self.keys_dir)
            self._keys_stamp = keyfiles.stamp(self.keys_dir)
        return self._keys

    def registry(self) -> Registry:
        return self._registry

    def _refresh(self, path: Path) -> None:
        try:
            info = path.stat()
            stamp: tuple[int, int] | None = (info.st_mtime_ns, info.st_size)
        except OSError:
            stamp = None
        if stamp == self._registry_stamp:
            return
        try:
            registry = load_licensees(path)
        except RuleError as e:  # keep serving the last good registry, loudly
            log.error("licensees not reloaded: %s", e)
            return
        self._registry_stamp = stamp
        for event in revocations(self._registry, registry):
            self._record(time.time(), event, None)
        self._registry = registry

    def _attach(self, ruleset: Ruleset) -> Ruleset:
        """The rules with the live verifier in their licences, made once per rules version."""
        found = self._attached.get(id(ruleset))
        if found is not None and found[0] is ruleset:
            return found[1]
        policy = ruleset.policy
        server = policy.licences.server
        if server is None:  # pragma: no cover - requestheaders checked it
            return ruleset
        verifier = Verifier(server, self.keys, self.registry)
        licences = dataclasses.replace(policy.licences, verifier=verifier)
        attached = dataclasses.replace(
            ruleset, policy=dataclasses.replace(policy, licences=licences)
        )
        if len(self._attached) >= 64:
            self._attached.clear()
        self._attached[id(ruleset)] = (ruleset, attached)
        return attached

    def _record(self, now: float, event: Mapping[str, object], client_ip: str | None) -> None:
        if self._ledger is None:
            path = licence_ledger.ledger_path(self._state)
            worker = self.pipeline.worker  # --workers: each worker keeps its own chain
            if worker is not None:
                path = worker_log(path, worker)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._ledger = LogWriter(
                str(path), state_dir=path.parent, head_file=head_file(worker), worker=worker
            )
        self._ledger.write(licence_ledger.entry(now, dict(event), client_ip))


def _response(answer: oauth.Answer) -> http.Response:
    response = http.Response.make(answer.status, b"", dict(answer.headers))
    response.set_content(json.dumps(answer.body).encode())
    response.headers["content-type"] = "application/json"
    return response
