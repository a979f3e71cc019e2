"""The Host of a request in one form, and the check that the request names only one.

A host is compared lower-case and without one trailing dot, as DNS and nginx
(`ngx_http_validate_host`) treat it: `Archive.Label.Example.:8080` is
`archive.label.example:8080`. The port is kept as sent, without leading zeros.

Refused with BadRequest:

- two Host header fields (mitmproxy would join them into one value);
- a Host that names another host or port than HTTP/2's `:authority` (mitmproxy
  routes by the one and forwards the other). An HTTP/1 absolute-form target's
  authority replaces the Host instead, as RFC 9112 §3.2.2 says; the caller does that;
- a Host that is not a DNS name, an IPv4 address or a bracketed IPv6 address,
  with an optional port: empty labels (`a..b`), `/`, `@`, spaces, control or
  non-ASCII bytes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from proxy.edge.errors import BadRequest

_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
_IPV6 = re.compile(r"\[[0-9a-f:.]+\]")
_PORT = re.compile(r"[0-9]{0,5}")
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def split_host(value: str) -> tuple[str, str]:
    """(host, port) of a Host value or authority, in their one form; port '' when none."""
    text = value.strip().lower()
    if text.startswith("["):
        end = text.find("]") + 1
        host, rest = (text[:end], text[end:]) if end else (text, "")
        valid = _IPV6.fullmatch(host) is not None
    else:
        host, colon, port = text.partition(":")
        rest = colon + port
        host = host.removesuffix(".")
        valid = _NAME.fullmatch(host) is not None
    port = rest.removeprefix(":")
    if not valid or rest[:1] not in ("", ":") or not _PORT.fullmatch(port) or _too_big(port):
        raise BadRequest("invalid-host", "the Host is not a host name or address")
    return host, str(int(port)) if port else ""


def normalise_host(value: str) -> str:
    """`host[:port]` in one form. Raises BadRequest."""
    host, port = split_host(value)
    return f"{host}:{port}" if port else host


def checked_host(fields: Sequence[str], authority: str = "", scheme: str = "http") -> str:
    """The request's one host, normalised ('' when it names none). Raises BadRequest.

    `fields` are the values of its Host header fields; `authority` is HTTP/2's
    `:authority` ('' when there is none), which a Host field may repeat but not
    contradict.
    """
    if len(fields) > 1:
        raise BadRequest("duplicate-host", "more than one Host header field")
    host = normalise_host(fields[0]) if fields and fields[0].strip() else ""
    if not authority:
        return host
    named = normalise_host(authority)
    if host and _endpoint(host, scheme) != _endpoint(named, scheme):
        raise BadRequest("conflicting-host", "the Host differs from the target's authority")
    return named


def _endpoint(value: str, scheme: str) -> tuple[str, str]:
    host, port = split_host(value)
    return host, port or _DEFAULT_PORTS.get(scheme, "")


def _too_big(port: str) -> bool:
    return bool(port) and int(port) > 65535
