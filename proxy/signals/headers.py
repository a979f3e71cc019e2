"""The reservation signals a response carries, rendered once per policy.

Header values are built when the rules load (the hot path only copies them), with
RFC 9651 serialisation for `Content-Usage` from a structured-fields library.
Upstream values are overridden where they would contradict the policy
(`tdm-reservation`, `Content-Usage`) and merged where they add to it
(`X-Robots-Tag` directives).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import http_sf
from http_sf.types import DictionaryType, Token

from proxy.config.reservation import Reservation
from proxy.signals.htmlmeta import MetaTags


@dataclass(frozen=True, slots=True)
class HeaderSignals:
    """Pre-rendered headers; `names` is what the access log records as shown."""

    set: tuple[tuple[str, str], ...]  # replace whatever upstream sent
    robots_tag: tuple[str, ...]  # merged into X-Robots-Tag
    names: tuple[str, ...]
    # Every header as raw fields, for a response that has none of them yet (most do not).
    appended: tuple[tuple[bytes, bytes], ...] = field(init=False)
    appended_names: frozenset[bytes] = field(init=False)

    def __post_init__(self) -> None:
        robots = [("x-robots-tag", ", ".join(self.robots_tag))] if self.robots_tag else []
        raw = tuple((_raw(k), _raw(v)) for k, v in (*self.set, *robots))
        object.__setattr__(self, "appended", raw)
        object.__setattr__(self, "appended_names", frozenset(k for k, _ in raw))


def build_header_signals(reservation: Reservation, reserved: bool) -> HeaderSignals:
    """The headers for one resolved answer: TDM rights reserved or not."""
    if not reservation.enabled:
        return HeaderSignals((), (), ())
    headers: list[tuple[str, str]] = [("tdm-reservation", "1" if reserved else "0")]
    names = ["tdm-reservation"]
    if reservation.tdm_policy and reserved:  # TDMRep: no policy with reservation 0
        headers.append(("tdm-policy", reservation.tdm_policy))
        names.append("tdm-policy")
    headers.append(("content-usage", content_usage(reservation, reserved)))
    names.append("content-usage")
    if reservation.licence:
        headers.append(
            ("link", f'<{reservation.licence}>; rel="license"; type="application/rsl+xml"')
        )
        names.append("link-license")
    robots_tag = reservation.x_robots_tag if reserved else ()
    if robots_tag:
        names.append("x-robots-tag")
    return HeaderSignals(tuple(headers), robots_tag, tuple(names))


def build_meta_tags(reservation: Reservation, reserved: bool) -> MetaTags | None:
    """The HTML meta tags for one resolved answer; None when signals are off."""
    if not reservation.enabled:
        return None
    return MetaTags(
        tdm_reservation="1" if reserved else "0",
        tdm_policy=reservation.tdm_policy if reserved else None,
        robots=reservation.x_robots_tag if reserved else (),
        licence=reservation.licence,
    )


def content_usage(reservation: Reservation, reserved: bool) -> str:
    """The Content-Usage value (an RFC 9651 dictionary of tokens) for an answer."""
    usage: DictionaryType = {label: (Token(v), {}) for label, v in reservation.usage(reserved)}
    return str(http_sf.ser(usage))


def merge_robots_tag(existing: str | None, ours: tuple[str, ...]) -> str:
    """Add our directives to an upstream X-Robots-Tag value, without duplicates.

    Directives scoped to a user agent (`googlebot: noindex`) are kept as they are.
    """
    if not existing:
        return ", ".join(ours)
    present = {d.strip().lower() for d in existing.split(",")}
    extra = [d for d in ours if d not in present]
    return ", ".join([existing.strip(), *extra]) if extra else existing


def added_fields(
    signals: HeaderSignals, fields: tuple[tuple[bytes, bytes], ...]
) -> tuple[tuple[bytes, bytes], ...] | None:
    """`fields` with every signal appended, or None if some are there already (use `apply`).

    The same headers as `apply` gives such a response, in one pass instead of a
    lookup and a rewrite per header.
    """
    names = signals.appended_names
    for name, _ in fields:
        if name.lower() in names:
            return None
    return fields + signals.appended


def _raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")  # as the engine encodes header values


def apply(
    signals: HeaderSignals,
    get: Callable[[str], str | None],
    put: Callable[[str, str], None],
    add: Callable[[str, str], None],
) -> None:
    """Apply the signals through an engine's header accessors."""
    for name, value in signals.set:
        if name == "link":
            if value not in (get(name) or ""):
                add(name, value)  # a page may have Link values of its own
        else:
            put(name, value)
    if signals.robots_tag:
        put("x-robots-tag", merge_robots_tag(get("x-robots-tag"), signals.robots_tag))
