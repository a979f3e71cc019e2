"""Access logs whose answers are known, written the way the proxy writes them.

Records are built like proxy.evidence.record builds them and stamped by the real
proxy.evidence.chain.ChainWriter; served documents go into the real DocumentStore; a log
can be rotated into gzipped files named like proxy.evidence.logfiles names them. Tests
add requests one by one, so each test can say exactly what the answer is.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from proxy.evidence.chain import GENESIS, HEAD_FILE, ChainWriter, save_head
from proxy.evidence.logfiles import compress, rotated_name
from proxy.store.documents import DocumentStore

SIGNALS = ["tdm-reservation", "tdm-policy", "content-usage", "link-license", "x-robots-tag"]
AGENTS = {  # name: (operator, purpose, user agent)
    "GPTBot": ("OpenAI", "ai-training", "Mozilla/5.0 (compatible; GPTBot/1.2)"),
    "ClaudeBot": ("Anthropic", "ai-training", "Mozilla/5.0 (compatible; ClaudeBot/1.0)"),
    "Googlebot": ("Google", "search", "Mozilla/5.0 (compatible; Googlebot/2.1)"),
    "PerplexityBot": ("Perplexity", "ai-search", "Mozilla/5.0 (compatible; PerplexityBot/1.0)"),
}
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def at(minutes: float) -> str:
    """The log's time format, `minutes` after T0."""
    when = T0 + timedelta(minutes=minutes)
    return when.isoformat(timespec="milliseconds")[:-6] + "Z"


class LogBuilder:
    def __init__(self, root: Path, key: bytes | None = None) -> None:
        self.root = root
        self.state = root / "state"
        self.log = root / "logs" / "access.jsonl"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.chain = ChainWriter(key, 0, GENESIS)
        self.store = DocumentStore(self.state)
        self.lines: list[bytes] = []
        self.times: list[float] = []

    def request(
        self,
        minutes: float,
        agent: str | None = None,
        path: str = "/",
        *,
        action: str = "allow",
        status: int | None = None,
        identity: str | None = None,
        ip: str = "203.0.113.9",
        body_bytes: int = 5000,
        signals: list[str] | None = None,
        served: tuple[str, str] | None = None,
        domain: str = "label.example",
        rule: str | None = None,
    ) -> dict[str, Any]:
        """One request record; returns it as written (with its chain fields)."""
        operator, purpose, ua = AGENTS[agent] if agent else (None, None, BROWSER)
        status = status if status is not None else (403 if action == "block" else 200)
        record: dict[str, Any] = {
            "@timestamp": at(minutes),
            "event": {
                "kind": "event",
                "category": ["web"],
                "action": action,
                "duration": 1_500_000,
                "outcome": "success" if status < 400 else "failure",
            },
            "source": {"ip": ip},
            "url": {"domain": domain, "path": path},
            "http": {
                "request": {"method": "GET"},
                "response": {"status_code": status, "body": {"bytes": body_bytes}},
            },
            "user_agent": {"original": ua},
            "optout": {
                "agent": agent,
                "operator": operator,
                "purpose": purpose,
                "identity": identity or ("claimed" if agent else "none"),
                "rule": rule or ("default/allow" if action == "allow" else "block-ai-training"),
                "signals": SIGNALS if signals is None else signals,
            },
        }
        if served is not None:
            kind, body = served
            record["optout"]["served"] = {
                "kind": kind,
                "sha256": self.store.put(body.encode(), kind),
            }
        return self._write(record, minutes)

    def robots(self, minutes: float, agent: str | None, text: str, **kw: Any) -> dict[str, Any]:
        """A robots.txt response serving `text` (kept in the state dir)."""
        return self.request(minutes, agent, "/robots.txt", served=("robots.txt", text), **kw)

    def gap(self, minutes: float, lost: int) -> None:
        """A log-gap record, as the writer leaves after `lost` records could not be written."""
        first = self.chain.sequence + 1
        self.chain.sequence += lost
        record = {
            "@timestamp": at(minutes),
            "event": {"kind": "event", "action": "log-gap"},
            "optout": {
                "gap": {"first_sequence": first, "last_sequence": first + lost - 1, "lost": lost}
            },
        }
        self._write(record, minutes)

    def _write(self, record: dict[str, Any], minutes: float) -> dict[str, Any]:
        line = self.chain.stamp(record)
        self.lines.append(line)
        self.times.append((T0 + timedelta(minutes=minutes)).timestamp())
        return json.loads(line)

    def write(self, rotate_every: int | None = None, head: bool = True) -> Path:
        """Write the log (rotated and gzipped every `rotate_every` lines); the current file."""
        chunks = [self.lines]
        if rotate_every:
            chunks = [
                self.lines[i : i + rotate_every] for i in range(0, len(self.lines), rotate_every)
            ]
        first = 0
        for n, chunk in enumerate(chunks):
            data = b"".join(line + b"\n" for line in chunk)
            last = n == len(chunks) - 1
            name = (
                self.log.name if last else rotated_name(self.log.name, self.times[first], first + 1)
            )
            path = self.log.with_name(name)
            path.write_bytes(data)
            if not last:
                compress(path)
            first += len(chunk)
        if head:
            self.state.mkdir(parents=True, exist_ok=True)
            save_head(self.state / HEAD_FILE, self.chain.head)
        return self.log


ROBOTS_V1 = "User-agent: GPTBot\nDisallow: /a/\n\nUser-agent: *\nAllow: /\n"
ROBOTS_V2 = "User-agent: GPTBot\nDisallow: /b/\n\nUser-agent: *\nAllow: /\n"


def scenario(root: Path, key: bytes | None = None, rotate_every: int | None = None) -> LogBuilder:
    """A small log whose summary and violations are worked out by hand in the tests.

    GPTBot reads robots.txt v1 (Disallow: /a/), fetches /a/1 (violation) and /b/1;
    reads v2 (Disallow: /b/), fetches /a/2 and /b/2 (violation). Googlebot is verified
    twice and spoofed once; ClaudeBot never reads robots.txt; three browsers.
    """
    b = LogBuilder(root, key)
    b.request(0, None, "/", ip="198.51.100.1", body_bytes=1000)
    b.robots(1, "GPTBot", ROBOTS_V1, ip="20.171.206.7", body_bytes=300)
    b.request(2, "GPTBot", "/a/1", action="block", ip="20.171.206.7", body_bytes=236)
    b.request(3, "GPTBot", "/b/1", ip="20.171.206.7", body_bytes=4000)
    b.request(4, "Googlebot", "/releases/", identity="verified", ip="66.249.66.1", body_bytes=2000)
    b.request(5, None, "/releases/aurora", ip="198.51.100.2", body_bytes=1000)
    b.robots(60, "GPTBot", ROBOTS_V2, ip="20.171.206.8", body_bytes=300)
    b.request(61, "GPTBot", "/a/2", ip="20.171.206.8", body_bytes=4000)
    b.request(62, "GPTBot", "/b/2", ip="20.171.206.8", body_bytes=4000)
    b.request(
        63, "Googlebot", "/b/2", identity="spoofed", action="block", ip="192.0.2.66", body_bytes=236
    )
    b.request(64, "ClaudeBot", "/a/3", ip="3.3.3.3", body_bytes=500)
    b.request(65, "ClaudeBot", "/a/4", ip="3.3.3.3", body_bytes=500)
    b.request(
        120, "Googlebot", "/releases/aurora", identity="verified", ip="66.249.66.2", body_bytes=2000
    )
    b.request(121, None, "/press/", ip="198.51.100.1", body_bytes=1000)
    b.write(rotate_every)
    return b
