"""Sites: which site a request is for, and where it goes (requestheaders, first of all).

Every request is routed here, per flow, to an upstream the label configured: the
site's from rules/sites.yaml, or without that file the one `--upstream`. Nothing
else is ever connected to, so the proxy is never an open proxy:

- a Host that no site names gets 421 Misdirected Request;
- an absolute-form request (`GET http://other.example/ HTTP/1.1`) is routed by
  its authority, as RFC 9112 says, so one for a host that is not ours gets 421
  too; without sites.yaml no host is known to be ours and every one gets 421;
- CONNECT gets 405 (mitmproxy's reverse mode already answers 400 before any
  hook runs; this is the second line);
- over TLS, a request for another site than the one the connection was opened
  for (its SNI) gets 421, so the client retries on a connection of its own;
- plain HTTP sent to the https listener gets 400, as nginx answers it: a site
  served over https is not also served in clear text on that port.

Routing writes the server address to the request's data and keeps the client's
Host: assigning `request.host`/`port` would rewrite the Host header (and
HTTP/2 :authority). The site's own Ruleset goes on the flow for
every later addon. Refusals carry the default site's reservation headers and are
logged like blocks, under the rule `sites/<reason>`.
"""

from __future__ import annotations

from dataclasses import dataclass

from mitmproxy import ctx, exceptions, http
from mitmproxy.addonmanager import Loader

from proxy.config.sites import Site, Upstream, host_of, parse_upstream
from proxy.engine.pipeline import RULESET, VERDICT, Pipeline
from proxy.model import Action, Verdict
from proxy.ruleset import Ruleset

_BODIES = {
    400: "This port is for https: the request was sent in plain HTTP.\n",
    405: "The proxy does not tunnel (CONNECT is not allowed).\n",
    421: "This server does not serve that host.\n",
}
_ALLOW = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"  # what a 405 says is allowed


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    reason: str  # logged as the rule `sites/<reason>`


def choose(
    ruleset: Ruleset, single: Upstream | None, flow: http.HTTPFlow
) -> tuple[Site | None, Upstream | None] | Refusal:
    """Where a request goes: its site and upstream, or a refusal.

    Without sites.yaml the site is None and the upstream `single` (None: the
    engine's reverse target, which is --upstream too).
    """
    request = flow.request
    if request.method == "CONNECT":
        return Refusal(405, "connect")
    absolute = request.http_version.startswith("HTTP/1") and bool(request.authority)
    sites = ruleset.sites
    if sites is None:
        return Refusal(421, "absolute-form") if absolute else (None, single)
    host = host_of(request.authority if absolute else request.host_header or "")
    site = sites.match(host) if host else sites.default
    if site is None:
        return Refusal(421, "absolute-form" if absolute else "unknown-host")
    client = flow.client_conn
    if client.tls_established:
        opened_for = sites.match(host_of(client.sni)) if client.sni else sites.default
        if opened_for is not site:
            return Refusal(421, "other-site")
    return site, site.upstream


def send_to(request: http.Request, upstream: Upstream) -> None:
    """Point the request at `upstream`, keeping the Host the client asked for.

    The target is written to the request's data: the `host` and `port` setters
    would rewrite the Host header (and authority) that this keeps as it is.
    """
    data = request.data
    if request.http_version.startswith("HTTP/1") and data.authority:
        request.host_header = request.authority  # absolute-form: its authority is the Host
        data.authority = b""  # the upstream gets origin-form
    data.scheme = upstream.scheme.encode()
    data.host = upstream.host
    data.port = upstream.port


class Sites:
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.single: Upstream | None = None
        self.tls_listener = ""  # the https listener's mode spec; "" when there is none

    def load(self, loader: Loader) -> None:
        loader.add_option(
            "optout_upstream",
            str,
            "",
            "The one upstream, http(s)://HOST[:PORT], that serves every Host when the rules "
            "directory has no sites.yaml. Empty: the reverse mode's target.",
        )
        loader.add_option(
            "optout_tls_listener",
            str,
            "",
            "The mode spec of the https listener (one of `mode`), whose plain HTTP requests "
            "are refused. Empty: there is none.",
        )

    def configure(self, updated: set[str]) -> None:
        if "optout_upstream" in updated:
            value = ctx.options.optout_upstream
            try:
                self.single = parse_upstream(value) if value else None
            except ValueError as e:
                raise exceptions.OptionsError(f"Cannot parse optout_upstream {value}: {e}") from e
        if "optout_tls_listener" in updated:
            self.tls_listener = ctx.options.optout_tls_listener

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        ruleset = self.pipeline.ruleset
        chosen = choose(ruleset, self.single, flow)
        if self.tls_listener and _plain_on(self.tls_listener, flow):
            chosen = Refusal(400, "plain-http-on-https-port")
        if isinstance(chosen, Refusal):
            refuse(flow, ruleset, chosen)
            return
        site, upstream = chosen
        flow.metadata[RULESET] = ruleset.for_site(site) if site is not None else ruleset
        if upstream is not None:
            send_to(flow.request, upstream)


def _plain_on(listener: str, flow: http.HTTPFlow) -> bool:
    client = flow.client_conn
    return not client.tls_established and client.proxy_mode.full_spec == listener


def refuse(flow: http.HTTPFlow, ruleset: Ruleset, refusal: Refusal) -> None:
    extra = {"allow": _ALLOW} if refusal.status == 405 else None
    answer(flow, ruleset, refusal.status, f"sites/{refusal.reason}", _BODIES[refusal.status], extra)


def answer(
    flow: http.HTTPFlow,
    ruleset: Ruleset,
    status: int,
    rule: str,
    body: str,
    extra: dict[str, str] | None = None,
) -> None:
    """Answer here, with the default site's reservation headers; nothing is connected."""
    default = ruleset.sites.default if ruleset.sites is not None else None
    flow.metadata[RULESET] = ruleset.for_site(default) if default is not None else ruleset
    flow.metadata[VERDICT] = Verdict(Action.BLOCK, rule)
    headers = {"content-type": "text/plain; charset=utf-8", "cache-control": "no-store"}
    flow.response = http.Response.make(status, body.encode(), {**headers, **(extra or {})})
    if flow.request.method == "HEAD":  # GET's headers, no body (mitmproxy would send it)
        flow.response.raw_content = b""
