"""Drive mitmproxy addons through a flow's hooks, as the engine does, without a network."""

from __future__ import annotations

import asyncio
import inspect
import json
from pathlib import Path
from typing import Any

from mitmproxy import http
from mitmproxy.test import tflow, tutils

from proxy.engine.pipeline import Pipeline
from proxy.ruleset import Ruleset
from proxy.store.logwriter import LogWriter


def make_flow(
    user_agent: str = "Mozilla/5.0 Firefox/133.0", path: str = "/", accept: str = "*/*"
) -> http.HTTPFlow:
    flow = tflow.tflow(req=tutils.treq(path=path.encode(), headers=()))
    flow.request.headers["host"] = "label.example"
    flow.request.headers["user-agent"] = user_agent
    flow.request.headers["accept"] = accept
    return flow


def upstream_response(
    flow: http.HTTPFlow, content_type: str, body: bytes = b"", **headers: str
) -> None:
    flow.response = tutils.tresp(content=body)
    flow.response.headers.clear()
    flow.response.headers["content-type"] = content_type
    flow.response.headers["content-length"] = str(len(body))
    for name, value in headers.items():
        flow.response.headers[name.replace("_", "-")] = value
    # As in the engine: at responseheaders only the headers have arrived.
    flow.response.raw_content = None
    flow.metadata["test.body"] = body


def run(addons: list[Any], flow: http.HTTPFlow, respond: Any = None) -> None:
    """requestheaders → request → (upstream answers unless an addon did) → responseheaders
    → response."""
    for addon in addons:
        if hasattr(addon, "requestheaders"):
            addon.requestheaders(flow)
    asyncio.run(_request(addons, flow))  # inside a loop: Limits starts a timer there
    if flow.response is None and respond is not None:
        respond(flow)
    for addon in addons:
        if hasattr(addon, "responseheaders"):
            addon.responseheaders(flow)
    assert flow.response is not None
    if "test.body" in flow.metadata:
        body = flow.metadata.pop("test.body")
        if callable(flow.response.stream):
            flow.response.stream(body)  # streamed: the body passes, nothing is kept
        else:
            flow.response.raw_content = body
    for addon in addons:
        if hasattr(addon, "response"):
            result = addon.response(flow)
            if inspect.isawaitable(result):  # async hooks, awaited as the engine does
                asyncio.run(_awaited(result))


async def _awaited(result: Any) -> None:
    await result


async def _request(addons: list[Any], flow: http.HTTPFlow) -> None:
    for addon in addons:
        if hasattr(addon, "request"):
            addon.request(flow)


def pipeline(ruleset: Ruleset, tmp_path: Path) -> Pipeline:
    return Pipeline(ruleset, LogWriter(str(tmp_path / "access.jsonl")), html_limit=1000)


def records(pipe: Pipeline) -> list[dict[str, Any]]:
    """Every record the pipeline logged (closing its writer first)."""
    pipe.log.close()
    return [json.loads(line) for line in Path(pipe.log.target).read_text().splitlines()]
