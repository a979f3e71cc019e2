"""`optout logs violations`: trap hits first, with the robots.txt the client was served."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from proxy.review.files import resolve
from proxy.review.traphits import find
from proxy.review.violations import Options, render
from proxy.review.violations import find as violations

SHA = "ab" * 32


def record(ts: str, path: str, **optout: Any) -> dict[str, Any]:
    return {
        "@timestamp": ts,
        "event": {"action": "block" if optout.get("trap") else "allow"},
        "source": {"ip": "198.51.100.4"},
        "url": {"domain": "label.example", "path": path},
        "user_agent": {"original": "examplecrawler/1.0"},
        "http": {"response": {"status_code": 403 if optout.get("trap") else 200}},
        "tls": {"client": {"ja4": "t13d1812h1_85036bcba153_b26ce05bbdd6"}},
        "optout": {"agent": None, "identity": "none", **optout},
    }


def write(tmp_path: Path) -> Path:
    log = tmp_path / "access.jsonl"
    rows = [
        record("2026-12-03T10:00:00.000Z", "/robots.txt"),
        record(
            "2026-12-03T10:00:05.000Z",
            "/catalogue/all-x1",
            trap="hit",
            client_family="python",
            signals_seen=["ua-tls-mismatch"],
            trap_robots={"sha256": SHA, "served_at": "2026-12-03T10:00:00.000Z"},
        ),
        record("2026-12-03T11:00:00.000Z", "/catalogue/all-x1", trap="hit"),
        record("2026-12-03T11:00:01.000Z", "/", flagged=["trap"]),
    ]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return log


def test_hits_carry_their_evidence(tmp_path: Path) -> None:
    first, second = find([write(tmp_path)])
    assert (first.time, first.ip, first.path) == (
        "2026-12-03T10:00:05.000Z",
        "198.51.100.4",
        "/catalogue/all-x1",
    )
    assert (first.robots_sha256, first.robots_served_at) == (SHA, "2026-12-03T10:00:00.000Z")
    assert first.client_family == "python"
    assert first.signals == ("ua-tls-mismatch",)
    assert first.ja4 == "t13d1812h1_85036bcba153_b26ce05bbdd6"
    assert second.robots_sha256 is None
    assert "not fetched" in second.describe()


def test_window(tmp_path: Path) -> None:
    hits = find([write(tmp_path)], since="2026-12-03T10:30:00.000Z")
    assert [h.time for h in hits] == ["2026-12-03T11:00:00.000Z"]


def test_violations_list_trap_hits_first(tmp_path: Path) -> None:
    found = violations(resolve([str(write(tmp_path))]), tmp_path, lambda a: (a,), Options())
    assert len(found.trap_hits) == 2
    assert list(found.as_json())[0] == "trap_hits"
    text = render(found)
    assert text.index("trap hit(s)") < text.index("violation(s)")
    assert SHA[:12] in text


def test_a_pseudonymised_address_is_shown(tmp_path: Path) -> None:
    hit = record("2026-12-03T10:00:05.000Z", "/catalogue/all-x1", trap="hit")
    hit["source"] = {"address": "anon-cc72cd7a429e2c02"}
    log = tmp_path / "access.jsonl"
    log.write_text(json.dumps(hit) + "\n")
    assert [h.ip for h in find([log])] == ["anon-cc72cd7a429e2c02"]
