"""Access-log records carry the ECS fields and the optout object security teams read."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.evidence.record import build_record, iso_timestamp
from proxy.model import Action, Agent, Classification, Identity, Purpose, RequestInfo, Verdict

GPTBOT = Agent("GPTBot", "OpenAI", Purpose.AI_TRAINING, ("GPTBot",), ("GPTBot",), "https://x")
REQUEST = RequestInfo("GET", "label.example", "/music/a.mp3", "GPTBot/1.2", "203.0.113.9")


def test_blocked_request_record() -> None:
    record = build_record(
        started=1_764_000_000.123,
        duration_ns=1500,
        request=REQUEST,
        found=Classification(GPTBOT, Identity.CLAIMED),
        verdict=Verdict(Action.BLOCK, "block-ai-training"),
        status=403,
        body_bytes=236,
        signals=("tdm-reservation", "content-usage"),
        query="a=1",
    )
    assert record == {
        "@timestamp": "2025-11-24T16:00:00.123Z",
        "ecs": {"version": "8.17.0"},
        "event": {
            "kind": "event",
            "category": ["web"],
            "type": ["access"],
            "action": "block",
            "duration": 1500,
            "outcome": "failure",
        },
        "source": {"ip": "203.0.113.9"},
        "url": {"domain": "label.example", "path": "/music/a.mp3", "query": "a=1"},
        "http": {
            "request": {"method": "GET"},
            "response": {"status_code": 403, "body": {"bytes": 236}},
        },
        "user_agent": {"original": "GPTBot/1.2"},
        "optout": {
            "agent": "GPTBot",
            "operator": "OpenAI",
            "purpose": "ai-training",
            "identity": "claimed",
            "rule": "block-ai-training",
            "signals": ["tdm-reservation", "content-usage"],
        },
    }


def test_upstream_error_record() -> None:
    record = build_record(
        started=0.0,
        duration_ns=0,
        request=REQUEST,
        found=Classification(None, Identity.NONE),
        verdict=None,
        status=None,
        body_bytes=None,
        signals=(),
        error="Connection refused",
    )
    assert record["event"]["action"] == "error"
    assert record["event"]["outcome"] == "failure"
    assert record["error"] == {"message": "Connection refused"}
    assert "response" not in record["http"]  # ECS: no empty objects (issue 18)
    assert record["event"]["type"] == ["error"]
    assert record["optout"]["agent"] is None
    assert record["optout"]["identity"] == "none"


def test_hostile_user_agent_is_clipped_and_serialisable() -> None:
    ua = "\x00\udcff" + "A" * 10_000
    record = build_record(
        started=0.0,
        duration_ns=0,
        request=RequestInfo("GET", "h", "/", ua),
        found=Classification(None, Identity.NONE),
        verdict=Verdict(Action.ALLOW, "default"),
        status=200,
        body_bytes=0,
        signals=(),
    )
    original = record["user_agent"]["original"]
    assert original.endswith("…[truncated]")
    assert len(original) < 2100
    assert json.loads(json.dumps(record))["user_agent"]["original"] == original


@settings(max_examples=2000, derandomize=True)
@given(st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False))  # to 2100
def test_iso_timestamp_is_datetimes_isoformat(timestamp: float) -> None:
    """The same text as before the seconds were cached, for any time (and the cache's edges)."""
    expected = datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")
    assert iso_timestamp(timestamp) == expected.removesuffix("+00:00") + "Z"
