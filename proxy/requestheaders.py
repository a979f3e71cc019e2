"""Request headers as the core reads them: a mapping, or an engine's `get` function.

The core's parsers take either, so tests can pass a dict and the proxy the
engine's own header object, without the core importing the engine. Also: the
host of a Host header, as the proxy compares hosts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

HeaderSource = Mapping[str, str] | Callable[[str], str | None]


def getter(headers: HeaderSource) -> Callable[[str], str | None]:
    """A lookup by lower-case name; repeated fields are joined with ", " (RFC 9110)."""
    if not isinstance(headers, Mapping):
        return headers
    folded: dict[str, list[str]] = {}
    for name, value in headers.items():
        folded.setdefault(name.lower(), []).append(value.strip())
    return lambda name: ", ".join(folded[name]) if name in folded else None


def host_without_port(host: str) -> str:
    """The host of a Host header, lower-cased, without its port; IPv6 without brackets."""
    if host.startswith("["):
        return host[1 : host.find("]")].lower() if "]" in host else host.lower()
    return host.rsplit(":", 1)[0].lower() if host.count(":") == 1 else host.lower()
