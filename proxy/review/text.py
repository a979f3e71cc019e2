"""Plain-text tables for a terminal: columns aligned, numbers right-aligned.

Every text in a record came from the wire (paths, user agents, hosts): a crawler
can put terminal escape sequences or bidirectional overrides there. `printable`
shows them as escapes, so reviewing a log can neither drive the terminal nor
make a line read differently from what it holds.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Sequence

Cell = str | int | float | bool | None
# C0 controls, DEL and C1 controls; other invisible format characters are found
# by their Unicode category (Cf: bidi overrides, zero-width joiners, BOM).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """`text` with control and format characters written as \\xNN or \\uNNNN."""
    if text.isprintable():
        return text
    return "".join(_escape(c) for c in text)


def _escape(char: str) -> str:
    code = ord(char)
    if _CONTROL.match(char):
        return f"\\x{code:02x}"
    if unicodedata.category(char) in ("Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
        return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
    return char


def cell(value: Cell) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return printable(value)


def table(
    headers: Sequence[str], rows: Sequence[Sequence[Cell]], right: Collection[str] = ()
) -> str:
    """The rows under their headers, two spaces apart; numbers (and `right`) right-aligned."""
    texts = [[cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in texts:
        widths = [max(w, len(t)) for w, t in zip(widths, row, strict=True)]
    numeric = [
        h in right
        or (bool(rows) and all(isinstance(r[i], int | float) or r[i] is None for r in rows))
        for i, h in enumerate(headers)
    ]
    lines = [_line(headers, widths, numeric), _line(["-" * w for w in widths], widths, numeric)]
    lines.extend(_line(row, widths, numeric) for row in texts)
    return "\n".join(lines) + "\n"


def _line(values: Sequence[str], widths: Sequence[int], numeric: Sequence[bool]) -> str:
    parts = [
        v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)
    ]
    return "  ".join(parts).rstrip()


def megabytes(count: int | None) -> str:
    """Bytes for a reader: 1.2 MB rather than 1234567."""
    value = float(count or 0)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1000
    return f"{value:,.1f} TB"  # pragma: no cover - the loop always returns
