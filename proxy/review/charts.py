"""Inline SVG charts for the HTML report, drawn here so the page needs no script or network.

Charts are plain SVG elements with a <title> on every bar (the browser shows it
on hover), sized by a viewBox so they scale with the page, and coloured from
one colour-blind-safe palette.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from html import escape

PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#999999")
BLOCKED, ALLOWED = "#d55e00", "#0072b2"
_W, _H, _LEFT, _BOTTOM, _TOP = 960, 300, 56, 44, 16

# Time buckets, as the length of the ISO timestamp prefix they keep: the finest
# whose bar count stays readable (about 100 at most) for the log's span.
MINUTE, TEN_MINUTES, HOUR, DAY, MONTH = 16, 15, 13, 10, 7
_UNITS = (
    (timedelta(minutes=90), MINUTE, timedelta(minutes=1)),
    (timedelta(hours=12), TEN_MINUTES, timedelta(minutes=10)),
    (timedelta(days=3), HOUR, timedelta(hours=1)),
    (timedelta(days=93), DAY, timedelta(days=1)),
)
UNIT_NAMES = {MINUTE: "minute", TEN_MINUTES: "10 minutes", HOUR: "hour", DAY: "day", MONTH: "month"}


def time_unit(first: str, last: str) -> int:
    """Minutes for an hour's log, hours for a day's, days for a month's, months beyond."""
    span = datetime.fromisoformat(last) - datetime.fromisoformat(first)
    return next((unit for limit, unit, _ in _UNITS if span <= limit), MONTH)


def time_buckets(first: str, last: str, unit: int) -> list[str]:
    """Every bucket from `first` to `last`, empty ones included, so the axis is time."""
    step = next((s for _, u, s in _UNITS if u == unit), timedelta(days=1))
    when, end = datetime.fromisoformat(first), last[:unit]
    labels: list[str] = []
    while (key := _key(when, unit)) <= end:
        if not labels or labels[-1] != key:
            labels.append(key)
        when += step
    return labels


def _key(when: datetime, unit: int) -> str:
    return when.isoformat()[:unit]


def short_label(bucket: str) -> str:
    """2026-11-02T09:1 -> 11-02 09:10; 2026-11-02T09 -> 11-02 09h; 2026-11 stays."""
    day = bucket[5:10]
    if len(bucket) == MINUTE:
        return f"{day} {bucket[11:16]}"
    if len(bucket) == TEN_MINUTES:
        return f"{day} {bucket[11:15]}0"
    if len(bucket) == HOUR:
        return f"{day} {bucket[11:13]}h"
    return day if len(bucket) == DAY else bucket


def stacked_bars(
    title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[int], str]]
) -> str:
    """Vertical bars, one per label, stacked by series (name, values, colour), with a legend."""
    totals = [sum(values[i] for _, values, _ in series) for i in range(len(labels))]
    top = _nice(max(totals, default=0))
    plot_w, plot_h = _W - _LEFT - 10, _H - _BOTTOM - _TOP
    step = plot_w / max(len(labels), 1)
    parts = [_axis(top, plot_h)]
    for i, label in enumerate(labels):
        x, y = _LEFT + i * step, float(_TOP + plot_h)
        for name, values, colour in series:
            h = values[i] / top * plot_h if top else 0
            if h > 0:
                y -= h
                tip = escape(f"{label}: {name} {values[i]:,}")
                parts.append(
                    f'<rect x="{x + step * 0.1:.1f}" y="{y:.1f}" width="{step * 0.8:.1f}" '
                    f'height="{h:.1f}" fill="{colour}"><title>{tip}</title></rect>'
                )
    parts.extend(_x_labels(labels, step, plot_h))
    legend = "".join(
        f'<span class="key"><i style="background:{c}"></i>{escape(n)}</span>' for n, _, c in series
    )
    return _figure(title, parts, legend)


def hbars(title: str, rows: Sequence[tuple[str, int, int]]) -> str:
    """Horizontal bars (label, blocked, allowed), largest first, for rankings such as paths."""
    height, label_w = 24 * len(rows) + 10, 300
    top = _nice(max((b + a for _, b, a in rows), default=0))
    width = _W - label_w - 70
    parts = []
    for i, (label, blocked, allowed) in enumerate(rows):
        y = 5 + i * 24
        short = label if len(label) <= 42 else label[:40] + "…"
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end" class="lbl">'
            f"<title>{escape(label)}</title>{escape(short)}</text>"
        )
        x = float(label_w)
        for value, colour, what in ((blocked, BLOCKED, "blocked"), (allowed, ALLOWED, "allowed")):
            w = value / top * width if top else 0
            if w > 0:
                tip = escape(f"{label}: {what} {value:,}")
                parts.append(
                    f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="16" '
                    f'fill="{colour}"><title>{tip}</title></rect>'
                )
                x += w
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 15}" class="num">{blocked + allowed:,}</text>')
    legend = (
        f'<span class="key"><i style="background:{BLOCKED}"></i>blocked</span>'
        f'<span class="key"><i style="background:{ALLOWED}"></i>allowed</span>'
    )
    return _figure(title, parts, legend, height)


def _axis(top: int, plot_h: float) -> str:
    lines = []
    steps = next((n for n in (4, 5, 2) if top % n == 0), 1)
    for k in range(steps + 1):
        value = top * k // steps
        y = _TOP + plot_h - plot_h * k / steps
        lines.append(
            f'<line x1="{_LEFT}" x2="{_W - 10}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="num">{value:,}</text>'
        )
    return "".join(lines)


def _x_labels(labels: Sequence[str], step: float, plot_h: float) -> list[str]:
    every = max(1, -(-len(labels) // 12))  # at most about 12 labels
    return [
        f'<text x="{_LEFT + i * step + step / 2:.1f}" y="{_TOP + plot_h + 18:.1f}" '
        f'text-anchor="middle" class="lbl">{escape(label)}</text>'
        for i, label in enumerate(labels)
        if i % every == 0
    ]


def _figure(title: str, parts: Sequence[str], legend: str, height: int = _H) -> str:
    return (
        f'<figure class="chart"><figcaption>{escape(title)}</figcaption>'
        f'<svg viewBox="0 0 {_W} {height}" role="img" '
        f'aria-label="{escape(title)}">{"".join(parts)}</svg>'
        f'<div class="legend">{legend}</div></figure>'
    )


def _nice(value: int) -> int:
    """A round axis maximum at or above `value` (1, 2 or 5 times a power of ten)."""
    if value <= 0:
        return 0
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            if value <= factor * magnitude:
                return factor * magnitude
        magnitude *= 10
