"""Request headers as the core reads them: a mapping, or an engine's `get` function.

The core's parsers take either, so tests can pass a dict and the proxy the
engine's own header object, without the core importing the engine.
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
