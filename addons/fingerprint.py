"""Fingerprint: what the connection and the headers show besides the user agent (requestheaders).

Runs right after Classify. It takes the client's JA4 from its ClientHello on the
TLS listener (or, behind a TLS-terminating balancer, from `--ja4-header` when the
peer is a trusted proxy), names the client family from rules/tls/clients.yaml,
runs the consistency checks (proxy.identity.consistency) and counts the client's
recent requests (proxy.decision.score: high-rate, no-robots-crawl), springs the
robots.txt trap, and puts what it found, with the flags held against the client, into the
request the later addons decide and log on.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import MappingProxyType

from mitmproxy import connection, http, tls

from addons.classify import client_ip
from proxy.decision.score import Activity
from proxy.decision.trap import TRAP, FlagStore, RobotsSeen, address_key, ja4_key, trap_fields
from proxy.engine.pipeline import EXTRA, REQUEST, RULESET, Pipeline
from proxy.errors import Problem
from proxy.identity import ja4
from proxy.identity.consistency import BROWSER, consistency_signals
from proxy.identity.ipranges import parse_address
from proxy.identity.tlsclients import CLIENTS_FILE, TlsClient, load_clients, lookup
from proxy.model import RequestInfo

log = logging.getLogger(__name__)
MAX_HELLOS = 65536  # connections whose fingerprint is kept; a connection drops its own
_JA4 = re.compile(r"[tqd][0-9a-z]{2}[di]\d{4}[0-9a-z]{2}_[0-9a-f]{12}_[0-9a-f]{12}")


@dataclasses.dataclass(frozen=True, slots=True)
class Hello:
    ja4: str
    server_name: str


class Fingerprint:
    def __init__(self, pipeline: Pipeline, flags: FlagStore, robots: RobotsSeen) -> None:
        self.pipeline = pipeline
        self.flags = flags
        self.robots = robots
        self.activity = Activity()  # lives across reloads, as the addon does
        self._hellos: dict[str, Hello] = {}
        self._tables: dict[Path, MappingProxyType[str, TlsClient]] = {}
        self._loaded_for: object = None  # the pipeline's ruleset the tables were read under

    def tls_clienthello(self, data: tls.ClientHelloData) -> None:
        hello = data.client_hello
        raw = hello.raw_bytes(wrap_in_record=False)
        legacy = int.from_bytes(raw[:2], "big") if len(raw) >= 2 else 0
        value = ja4.ja4(legacy, hello.cipher_suites, hello.extensions)
        if len(self._hellos) >= MAX_HELLOS:
            self._hellos.clear()  # only under a flood; those requests go without a JA4
        self._hellos[data.context.client.id] = Hello(value, hello.sni or "")

    def client_disconnected(self, client: connection.Client) -> None:
        self._hellos.pop(client.id, None)

    def requestheaders(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        if flow.response or flow.error or not flow.live:
            return None
        request = flow.metadata.get(REQUEST)
        if request is None:
            return None
        hello = self._hello(flow)
        ruleset = flow.metadata.get(RULESET) or self.pipeline.ruleset
        client = lookup(self._table(ruleset.directory), hello.ja4) if hello.ja4 else None
        # A plain dict: faster than the checks' lookups in mitmproxy's Headers.
        headers = {k.lower(): v for k, v in flow.request.headers.items(multi=True)}
        https = flow.client_conn.tls_established or bool(hello.ja4)
        signals = consistency_signals(
            request.user_agent, headers, https, client.kind if client else None
        )
        signals |= self.activity.observe(request.client_ip, request.method, request.path)
        keys = [address_key(request.client_ip)]
        if hello.ja4 and (client is None or client.kind != BROWSER):
            keys.append(ja4_key(hello.ja4))
        trap = ruleset.policy.trap
        ttl = trap.ttl if trap is not None and is_trap(request.path, trap.path) else None
        if ttl is not None:
            self.flags.flag(keys, TRAP, ttl)
            flow.metadata[EXTRA] = trap_fields(self.robots.last(request.client_ip))
        found = functools.partial(with_fingerprint, request, hello, client, signals)
        flagged = self.flags.flags(keys)
        if self.pipeline.shared is not None:
            return self._shared_flags(flow, found, keys, flagged, ttl)
        flow.metadata[REQUEST] = found(flagged, flow.client_conn.tls_version)
        return None

    async def _shared_flags(
        self,
        flow: http.HTTPFlow,
        found: Callable[[frozenset[str], str | None], RequestInfo],
        keys: list[str],
        flagged: frozenset[str],
        ttl: float | None,
    ) -> None:
        """The flags other processes set too; a trap sprung here is set for them."""
        shared = self.pipeline.shared
        assert shared is not None  # noqa: S101 - only called when there is one
        if ttl is not None:
            await shared.flag(keys, TRAP, ttl)
        flagged |= await shared.flags(keys, (TRAP,))
        flow.metadata[REQUEST] = found(flagged, flow.client_conn.tls_version)

    def _hello(self, flow: http.HTTPFlow) -> Hello:
        found = self._hellos.get(flow.client_conn.id)
        if found is not None:
            return found
        name = self.pipeline.ja4_header
        value = flow.request.headers.get(name, "").strip().lower() if name else ""
        if value and _JA4.fullmatch(value) and self._trusted_peer(flow):
            return Hello(value, "")
        return Hello("", "")

    def _trusted_peer(self, flow: http.HTTPFlow) -> bool:
        address = parse_address(client_ip(flow))
        return address is not None and any(address in net for net in self.pipeline.trusted_proxies)

    def _table(self, directory: Path) -> MappingProxyType[str, TlsClient]:
        """The client table of a rules directory, read again after each reload."""
        if self.pipeline.ruleset is not self._loaded_for:
            self._tables.clear()
            self._loaded_for = self.pipeline.ruleset
        table = self._tables.get(directory)
        if table is None:
            problems: list[Problem] = []
            table = self._tables[directory] = load_clients(directory / CLIENTS_FILE, problems)
            for problem in problems:
                log.warning("client table: %s", problem)
        return table


def is_trap(path: str, trap: str) -> bool:
    return path == trap or path.startswith(trap.rstrip("/") + "/")


def with_fingerprint(
    request: RequestInfo,
    hello: Hello,
    client: TlsClient | None,
    signals: frozenset[str],
    flagged: frozenset[str],
    tls_version: str | None,
) -> RequestInfo:
    version = (tls_version or "").removeprefix("TLSv")
    return dataclasses.replace(
        request,
        ja4=hello.ja4,
        server_name=hello.server_name,
        tls_version=version,
        client_family=client.family if client else "",
        signals=request.signals | signals,
        flagged=request.flagged | flagged,
    )
