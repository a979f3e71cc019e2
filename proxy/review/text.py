"""Plain-text tables for a terminal: columns aligned, numbers right-aligned."""

from __future__ import annotations

from collections.abc import Collection, Sequence

Cell = str | int | float | bool | None


def cell(value: Cell) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return value


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
