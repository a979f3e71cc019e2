"""The `<license>` element a client posts to the token endpoint: what usage it asks for.

It is wire input: parsing never raises and answers a message instead. Documents
with a DOCTYPE are refused before parsing, so no entity can be declared, let
alone expanded; the size is capped before that.
"""

from __future__ import annotations

from xml.etree import ElementTree

from proxy.licensing.clients import USAGE_TOKENS

RSL_NS = "{https://rslstandard.org/rsl}"
MAX_LICENSE = 16 * 1024


def parse_license(text: str) -> tuple[str, ...] | str:
    """The usage tokens the licence's `<permits type="usage">` name, or what is wrong."""
    if len(text) > MAX_LICENSE:
        return "the license element is too large"
    if "<!" in text:
        return "the license element must not carry a DOCTYPE or entities"
    try:
        root = ElementTree.fromstring(text)  # noqa: S314 - no DOCTYPE, size capped above
    except ElementTree.ParseError:
        return "the license parameter is not an RSL <license> element"
    if root.tag not in (f"{RSL_NS}license", "license"):
        return "the license parameter is not an RSL <license> element"
    usage: list[str] = []
    for permits in root:
        if permits.tag in (f"{RSL_NS}permits", "permits") and permits.get("type") == "usage":
            usage += (permits.text or "").split()
    if not usage:
        return 'the license names no usage (<permits type="usage">)'
    unknown = [u for u in usage if u not in USAGE_TOKENS]
    if unknown:
        return f"unknown usage {unknown[0][:40]!r}; RSL names {', '.join(USAGE_TOKENS)}"
    return tuple(dict.fromkeys(usage))
