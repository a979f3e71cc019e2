"""The reservation header set a response carried, as bytes to keep once by content hash.

A record names the SHA-256 of this text (`optout.headers_served.sha256`) and the
text itself is kept in `<state>/headersets/<sha256>`, like the served documents:
"this response carried `tdm-reservation: 1` and `content-usage: train-ai=n`" is
then provable per request, with one short file per distinct set for months.
The text is one `name: value` line per field, in the order of the signals, with
every value the response had under that name, exactly as sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

# The log's signal names that are not the header's own name.
_HEADER_OF = {"link-license": "link", "link-c2pa-manifest": "link"}


def header_set(signals: Iterable[str], get_all: Callable[[str], list[str]]) -> bytes:
    """The text of the header set, from the signal names and the response's headers."""
    lines: list[str] = []
    for name in dict.fromkeys(_HEADER_OF.get(s, s) for s in signals):
        lines.extend(f"{name}: {value}" for value in get_all(name))
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape") if lines else b""
