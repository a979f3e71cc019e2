"""Summaries, ratios, issue 9's targets, and the tables printed and written to results/.

Every figure is a median over the rounds of one run of the suite, with min-max
beside it; ratios compare medians from the same run only, because the shared
2-core machine drifts from one hour to the next.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

_METRICS = ("rps", "mb_s", "p50_ms", "p99_ms", "cpu_ms_per_req", "peak_rss_mb")
_HIGHER_IS_BETTER = ("rps", "mb_s")


def summarise(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per configuration: median, min and max of every metric, and the error counts."""
    out: dict[str, dict[str, Any]] = {}
    for config in dict.fromkeys(r["config"] for r in runs):
        mine = [r for r in runs if r["config"] == config]
        stats: dict[str, Any] = {"runs": len(mine)}
        for metric in _METRICS:
            values = [r[metric] for r in mine if r.get(metric) is not None]
            if values:
                stats[metric] = {
                    "median": statistics.median(values),
                    "min": min(values),
                    "max": max(values),
                }
        stats["errors"] = sum(r["errors"] for r in mine)
        stats["non_2xx"] = sum(r["non_2xx"] for r in mine)
        stats["warnings"] = sorted({r["warning"] for r in mine if "warning" in r})
        out[config] = stats
    return out


def ratios(summary: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """optout / baseline for each metric: above 1 is better for rps and MB/s, worse for latency."""
    out: dict[str, dict[str, float]] = {}
    mine = summary.get("optout")
    for base in ("mitmdump", "nginx"):
        theirs = summary.get(base)
        if not mine or not theirs:
            continue
        out[f"optout/{base}"] = {
            m: mine[m]["median"] / theirs[m]["median"]
            for m in ("rps", "mb_s", "p50_ms", "p99_ms")
            if m in mine and m in theirs and theirs[m]["median"]
        }
    scaled = summary.get("optout2")
    if mine and scaled:  # two replicas behind nginx against one process
        out["optout2/optout"] = {
            m: scaled[m]["median"] / mine[m]["median"]
            for m in ("rps", "p50_ms", "cpu_ms_per_req")
            if m in mine and m in scaled and mine[m]["median"]
        }
    return out


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 9's targets, each with the measured value and whether it is met."""
    found = []

    def check(name: str, value: float | None, goal: str, ok: Callable[[float], bool]) -> None:
        met = None if value is None else bool(ok(value))
        found.append({"target": name, "goal": goal, "value": value, "met": met})

    http = results.get("scenarios", {})

    def ratio(scenario: str, metric: str) -> float | None:
        value = http.get(scenario, {}).get("ratios", {}).get("optout/mitmdump", {}).get(metric)
        return None if value is None else float(value)

    def optout(scenario: str, metric: str) -> float | None:
        stats = http.get(scenario, {}).get("summary", {}).get("optout", {}).get(metric)
        return float(stats["median"]) if stats else None

    if "page_c20" in http:
        check("page_c20 req/s vs mitmdump", ratio("page_c20", "rps"), ">= 1.3x", _ge(1.3))
    if "blocked_c20" in http:
        check("blocked_c20 req/s vs mitmdump", ratio("blocked_c20", "rps"), ">= 2.5x", _ge(2.5))
    if "page_c1" in http:
        check("page_c1 p50 vs mitmdump", ratio("page_c1", "p50_ms"), "<= 1.0x", _le(1.0))
    if "big_c20" in http:
        check("big_c20 peak RSS (MB)", optout("big_c20", "peak_rss_mb"), "<= 120", _le(120))
        check("big_c20 MB/s vs mitmdump streaming", ratio("big_c20", "mb_s"), ">= 0.9x", _ge(0.9))
    micro = results.get("micro", {}).get("classifier")
    if micro:
        check("classifier UA/s, shipped", micro["uncached_ua_s"], ">= 200,000", _ge(200_000))
        check("classifier slowdown, 10x catalogue", micro["slowdown_10x"], "< 2x", lambda v: v < 2)
    return found


def _ge(goal: float) -> Callable[[float], bool]:
    return lambda v: v >= goal


def _le(goal: float) -> Callable[[float], bool]:
    return lambda v: v <= goal


def http_table(title: str, name: str, data: dict[str, Any]) -> str:
    rows = [
        f"### `{name}`: {title}",
        "",
        "| config | req/s median (min–max) | MB/s median (min–max) | p50 ms | p99 ms "
        "| proxy CPU ms/req | proxy peak RSS MB, median (max) | non-2xx | errors |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for config, s in data["summary"].items():
        rows.append(
            f"| {config} | {_spread(s, 'rps', '{:,.0f}')} | {_spread(s, 'mb_s', '{:,.1f}')} "
            f"| {_med(s, 'p50_ms', '{:.2f}')} | {_med(s, 'p99_ms', '{:.2f}')} "
            f"| {_med(s, 'cpu_ms_per_req', '{:.3f}')} | {_rss(s)} "
            f"| {s['non_2xx']:,} | {s['errors']:,} |"
        )
    for pair, values in data.get("ratios", {}).items():
        text = ", ".join(f"{m} {v:.2f}x" for m, v in values.items())
        rows.append(f"\n{pair}: {text}")
    for note in data.get("notes", []):
        rows.append(f"\nNote: {note}")
    return "\n".join(rows) + "\n"


def _med(s: dict[str, Any], metric: str, fmt: str) -> str:
    return fmt.format(s[metric]["median"]) if metric in s else "–"


def _spread(s: dict[str, Any], metric: str, fmt: str) -> str:
    if metric not in s:
        return "–"
    m = s[metric]
    return f"{fmt.format(m['median'])} ({fmt.format(m['min'])}–{fmt.format(m['max'])})"


def _rss(s: dict[str, Any]) -> str:
    if "peak_rss_mb" not in s:
        return "–"
    return f"{s['peak_rss_mb']['median']:.0f} ({s['peak_rss_mb']['max']:.0f})"


def micro_table(name: str, data: dict[str, Any]) -> str:
    rows = [f"### `{name}`", "", "| measure | value |", "|---|---|"]
    for key, value in _flatten(data):
        rows.append(f"| {key} | {_num(value)} |")
    return "\n".join(rows) + "\n"


def _flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            out.extend(_flatten(value, f"{prefix}{key}."))
        else:
            out.append((prefix + key, value))
    return out


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def targets_table(found: list[dict[str, Any]]) -> str:
    rows = ["### Targets (issue 9)", "", "| target | goal | measured | met |", "|---|---|---|---|"]
    for t in found:
        value = "–" if t["value"] is None else _num(t["value"])
        met = {True: "met", False: "**not met**", None: "not measured"}[t["met"]]
        rows.append(f"| {t['target']} | {t['goal']} | {value} | {met} |")
    return "\n".join(rows) + "\n"


def machine_line(machine: dict[str, Any]) -> str:
    return (
        f"{machine['cpu']}, {machine['cores']} cores, {machine['ram_gb']} GB RAM, "
        f"{machine['os']}, kernel {machine['kernel']}; Python {machine['python']}, "
        f"mitmproxy {machine['mitmproxy']}, nginx {machine['nginx']}, wrk {machine['wrk']}; "
        f"calibration loop {machine['calibration_s']} s (engine notes: 0.46–0.53 s); "
        f"load average at start {machine['loadavg_start']:.2f}"
    )
