"""`optout logs summary` over one million access-log records (issue 6: at most 5 s).

The log is generated, not recorded: a month of traffic to one label site, about
70% browsers (no agent) and the rest spread over the catalogue's crawlers with
a long tail, records as the proxy writes them (compact ECS JSON with the hash
chain), rotated into daily files of which all but the current one are gzipped,
as a long-running proxy leaves them. The summary runs as the command does
(same query, same files), in-process, three times; the median is reported.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from proxy.evidence.logfiles import log_files, rotated_name
from proxy.review.summary import summarise

START = datetime(2026, 10, 1, tzinfo=UTC).timestamp()
DAYS = 30
ROUNDS = 3
TARGET_S = 5.0
_SIGNALS = ["tdm-reservation", "tdm-policy", "content-usage", "link-license", "x-robots-tag"]
_AGENTS = (  # name, operator, purpose, weight, blocked
    ("GPTBot", "OpenAI", "ai-training", 40, True),
    ("ClaudeBot", "Anthropic", "ai-training", 30, True),
    ("Googlebot", "Google", "search", 60, False),
    ("bingbot", "Microsoft", "search", 25, False),
    ("CCBot", "Common Crawl", "ai-training", 15, True),
    ("Bytespider", "ByteDance", "ai-training", 20, True),
    ("PerplexityBot", "Perplexity", "ai-search", 10, False),
    ("ChatGPT-User", "OpenAI", "ai-assistant", 8, False),
    ("AhrefsBot", "Ahrefs", "seo", 12, False),
    ("facebookexternalhit", "Meta", "preview", 6, False),
    *((f"TailBot{i}", f"Tail {i}", "other", 1, False) for i in range(40)),
)
_IDENTITIES = ("verified", "claimed", "spoofed")
_PATHS = ("/", "/releases/", "/artists/", "/music/", "/press/", "/news/", "/tour/")


def run(records: int = 1_000_000) -> dict[str, Any]:
    """Generate the log in a temp dir and time the summary over it."""
    with tempfile.TemporaryDirectory(prefix="optout-logsummary-") as tmp:
        started = time.perf_counter()
        files = write_log(Path(tmp), records)
        generate_s = time.perf_counter() - started
        size = sum(f.stat().st_size for f in files)
        times, rows = [], 0
        for _ in range(ROUNDS):
            started = time.perf_counter()
            rows = len(summarise(log_files(files[-1])).rows)
            times.append(time.perf_counter() - started)
    median = statistics.median(times)
    return {
        "records": records,
        "files": len(files),
        "bytes_on_disk": size,
        "generate_s": round(generate_s, 2),
        "summary_s": [round(t, 3) for t in times],
        "median_s": round(median, 3),
        "records_per_s": round(records / median),
        "agents": rows,
        "target_s": TARGET_S,
        "met": median <= TARGET_S,
    }


def write_log(directory: Path, records: int, seed: int = 6) -> list[Path]:
    """Daily rotated files named as the writer names them (gzipped), then `access.jsonl`."""
    per_day = -(-records // DAYS)
    step = DAYS * 86400 / records
    files, prev = [], "0" * 64
    lines = _lines(records, random.Random(seed))
    for day in range(DAYS):
        chunk: list[str] = []
        for line in lines:
            line = line.replace('"prev":""', f'"prev":"{prev}"', 1)
            prev = hashlib.sha256(line.encode()).hexdigest()
            chunk.append(line)
            if len(chunk) == per_day:
                break
        if not chunk:
            break
        data = ("\n".join(chunk) + "\n").encode()
        current = day == DAYS - 1 or len(chunk) < per_day
        first = day * per_day + 1
        name = rotated_name("access.jsonl", START + (first + per_day) * step, first)
        path = directory / ("access.jsonl" if current else name + ".gz")
        path.write_bytes(data if current else gzip.compress(data, compresslevel=1))
        files.append(path)
        if current:
            break
    return files


def _lines(records: int, rng: random.Random) -> Iterator[str]:
    step = DAYS * 86400 / records
    weights = [a[3] for a in _AGENTS]
    for seq in range(1, records + 1):
        crawler = rng.choices(_AGENTS, weights)[0] if rng.random() < 0.3 else None
        yield json.dumps(_record(seq, START + seq * step, crawler, rng), separators=(",", ":"))


def _record(seq: int, when: float, crawler: Any, rng: random.Random) -> dict[str, Any]:
    path = rng.choice(_PATHS) + (f"item-{rng.randrange(5000)}" if rng.random() < 0.8 else "")
    if crawler is not None and rng.random() < 0.02:
        path = "/robots.txt"
    identity = rng.choices(_IDENTITIES, (6, 3, 1))[0] if crawler else "none"
    blocked = bool(crawler and (crawler[4] or identity == "spoofed") and path != "/robots.txt")
    stamp = datetime.fromtimestamp(when, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"
    ua = f"Mozilla/5.0 (compatible; {crawler[0]}/1.{seq % 9})" if crawler else _browser(rng)
    optout: dict[str, Any] = {
        "agent": crawler[0] if crawler else None,
        "operator": crawler[1] if crawler else None,
        "purpose": crawler[2] if crawler else None,
        "identity": identity,
        "rule": "block-ai-training" if blocked else "default/allow",
        "signals": _SIGNALS,
        "chain": {"prev": "", "alg": "sha256"},
    }
    if path == "/robots.txt":
        optout["served"] = {"kind": "robots.txt", "sha256": "ab" * 32}
    return {
        "@timestamp": stamp,
        "event": {
            "kind": "event",
            "category": ["web"],
            "action": "block" if blocked else "allow",
            "sequence": seq,
            "duration": rng.randrange(200_000, 90_000_000),
            "outcome": "failure" if blocked else "success",
        },
        "source": {"ip": f"203.0.{rng.randrange(256)}.{rng.randrange(1, 255)}"},
        "url": {"domain": "label.example", "path": path},
        "http": {
            "request": {"method": "GET"},
            "response": {
                "status_code": 403 if blocked else 200,
                "body": {"bytes": 236 if blocked else rng.randrange(800, 90_000)},
            },
        },
        "user_agent": {"original": ua},
        "optout": optout,
    }


def _browser(rng: random.Random) -> str:
    return (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"Chrome/{rng.randint(110, 140)}.0.{rng.randrange(9999)}.0 Safari/537.36"
    )
