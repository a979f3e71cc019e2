"""The Edge addon on mitmproxy's test flows: the flow is rewritten in place, or answered 400."""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mitmproxy import http
from mitmproxy.test import taddons, tflow, tutils

from addons import default_addons
from addons.edge import Edge
from proxy.engine.pipeline import CLASSIFICATION, NOTES, OUTCOME, RULESET, VERDICT, Pipeline
from proxy.ruleset import Ruleset
from proxy.store.logwriter import LogWriter

GPTBOT = "Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)"


@pytest.fixture
def pipe(shipped: Ruleset, tmp_path: Path) -> Iterator[Pipeline]:
    p = Pipeline(shipped, LogWriter(str(tmp_path / "access.jsonl")))
    yield p
    p.log.close()


def _flow(path: bytes, host: str | None = "label.example", **request: Any) -> http.HTTPFlow:
    flow = tflow.tflow(req=tutils.treq(path=path, headers=(), **request))
    if host is not None:
        flow.request.headers["host"] = host
    flow.request.headers["user-agent"] = GPTBOT
    flow.client_conn.timestamp_tls_setup = None  # plain http
    return flow


def test_the_target_and_host_are_rewritten_for_everything_after(pipe: Pipeline) -> None:
    flow = _flow(b"/a/%2e%2e//%70rivate/./x%3b?q=/../%2f#frag", "Label.Example.:80")
    Edge(pipe).requestheaders(flow)
    assert flow.response is None
    assert flow.request.data.path == b"/private/x%3B?q=/../%2f"
    assert flow.request.headers.get_all("host") == ["label.example:80"]


def test_an_absolute_form_authority_is_rewritten_and_may_agree_with_host(pipe: Pipeline) -> None:
    flow = _flow(b"/x", "label.example:80", authority=b"Label.Example.")
    Edge(pipe).requestheaders(flow)
    assert flow.response is None
    assert (flow.request.data.authority, flow.request.headers["host"]) == (
        b"label.example",
        "label.example",
    )


def test_an_absolute_form_authority_replaces_the_host_it_contradicts(pipe: Pipeline) -> None:
    flow = _flow(b"/x", "Other.Example", authority=b"Label.Example.")
    Edge(pipe).requestheaders(flow)
    assert flow.response is None
    assert flow.request.headers.get_all("host") == ["label.example"]


@pytest.mark.parametrize(
    ("version", "authority", "hosts", "reason"),
    [
        ("HTTP/1.1", b"", ["label.example", "label.example"], "duplicate-host"),
        ("HTTP/1.1", b"label.example", ["x.example", "x.example"], "duplicate-host"),
        ("HTTP/2.0", b"label.example", ["other.example"], "conflicting-host"),
        ("HTTP/2.0", b"label.example", ["label.example:8443"], "conflicting-host"),
        ("HTTP/1.1", b"", ["label..example"], "invalid-host"),
    ],
)
def test_a_request_naming_two_hosts_is_refused(
    pipe: Pipeline, version: str, authority: bytes, hosts: list[str], reason: str
) -> None:
    flow = _flow(b"/", None, http_version=version.encode(), authority=authority)
    for host in hosts:
        flow.request.headers.add("host", host)
    Edge(pipe).requestheaders(flow)
    assert flow.response is not None
    assert flow.response.status_code == 400
    assert flow.metadata[VERDICT].rule == f"edge/{reason}"


def test_http2_authority_is_the_host_when_no_host_field_is_sent(pipe: Pipeline) -> None:
    flow = _flow(b"/%41", None, http_version=b"HTTP/2.0", authority=b"LABEL.example.")
    Edge(pipe).requestheaders(flow)
    assert flow.response is None
    assert (flow.request.data.authority, flow.request.data.path) == (b"label.example", b"/A")
    assert "host" not in flow.request.headers  # :authority is HTTP/2's Host


def test_a_refusal_is_400_with_its_reason_and_the_agent_it_claimed(pipe: Pipeline) -> None:
    flow = _flow(b"/.well-known/..%2fmusic/a.html")
    Edge(pipe).requestheaders(flow)
    assert flow.response is not None
    assert flow.response.status_code == 400
    assert b"encoded '/'" in flow.response.content
    assert flow.request.data.path == b"/.well-known/..%2fmusic/a.html"  # not rewritten
    assert flow.metadata[VERDICT].rule == "edge/encoded-slash"
    assert flow.metadata[OUTCOME] == "refused"
    assert flow.metadata[NOTES] == ("an encoded '/' (%2F) in the path",)
    assert flow.metadata[CLASSIFICATION].name == "GPTBot"
    assert flow.metadata[RULESET] is pipe.ruleset


def _records(pipe: Pipeline) -> list[dict[str, Any]]:
    pipe.log.close()
    return [json.loads(line) for line in Path(pipe.log.target).read_text().splitlines()]


@pytest.mark.parametrize("answered", ["response", "connect"])
def test_connect_and_answered_flows_are_left_alone(pipe: Pipeline, answered: str) -> None:
    flow = _flow(b"/a/../b")
    if answered == "response":
        flow.response = tutils.tresp()
    else:
        flow.request.method = "CONNECT"
    Edge(pipe).requestheaders(flow)
    assert flow.request.data.path == b"/a/../b"
    assert VERDICT not in flow.metadata


async def test_in_the_chain_the_400_carries_the_reservation_and_leaves_one_record(
    pipe: Pipeline,
) -> None:
    flow = _flow(b"/private%2Fx?a=1")
    with taddons.context(*(chain := default_addons(pipe))):
        for hook in ("requestheaders", "responseheaders", "response"):
            for addon in chain:
                if hasattr(addon, hook):
                    result = getattr(addon, hook)(flow)
                    if inspect.isawaitable(result):  # awaited as the engine does
                        await result
    assert flow.response is not None
    assert flow.response.headers["tdm-reservation"] == "1"
    (record,) = _records(pipe)
    assert record["http"]["response"]["status_code"] == 400
    assert record["optout"]["rule"] == "edge/encoded-slash"
    assert record["optout"]["outcome"] == "refused"
    assert record["optout"]["notes"] == ["an encoded '/' (%2F) in the path"]
    assert record["optout"]["agent"] == "GPTBot"
    assert (record["url"]["path"], record["url"]["query"]) == ("/private%2Fx", "a=1")
    assert "tdm-reservation" in record["optout"]["signals"]
