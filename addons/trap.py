"""Trap: the response side of the robots.txt trap (response).

Runs after HtmlMeta. It remembers which robots.txt each address was served (the
evidence a trap hit carries), and adds the trap's hidden link to buffered HTML
pages (proxy.signals.traplink). The request side is in addons/fingerprint.py.
"""

from __future__ import annotations

import hashlib

from mitmproxy import http

from addons.robots import ROBOTS_PATH
from proxy.decision.trap import RobotsSeen, Served
from proxy.engine.pipeline import REQUEST, RULESET, SERVED, VERDICT, Pipeline
from proxy.evidence.record import iso_timestamp
from proxy.model import Action
from proxy.signals import codings
from proxy.signals.traplink import add_trap_link

DECODED_LIMIT = 8 * 1024 * 1024  # as HtmlMeta: larger pages pass as sent


class Trap:
    def __init__(self, pipeline: Pipeline, robots: RobotsSeen) -> None:
        self.pipeline = pipeline
        self.robots = robots

    def response(self, flow: http.HTTPFlow) -> None:
        request, response = flow.metadata.get(REQUEST), flow.response
        if request is None or response is None:
            return
        served = flow.metadata.get(SERVED)
        if request.path == ROBOTS_PATH and served is not None and served[0] == "robots.txt":
            digest = hashlib.sha256(served[1]).hexdigest()
            self.robots.saw(
                request.client_ip, Served(digest, iso_timestamp(response.timestamp_start or 0))
            )
            return
        ruleset = flow.metadata.get(RULESET) or self.pipeline.ruleset
        trap = ruleset.policy.trap
        if trap is None or not _is_full_page(flow, response):
            return
        raw = response.raw_content or b""
        coding = response.headers.get("content-encoding", "")
        try:
            decoded = codings.decode(raw, coding, DECODED_LIMIT)
        except ValueError:
            return
        if decoded.over_limit or not decoded.ended:
            return
        body = add_trap_link(decoded.body, trap.path)
        if body is None:
            return
        response.raw_content = codings.encode(body, coding)
        if "transfer-encoding" not in response.headers:
            response.headers["content-length"] = str(len(response.raw_content))
        etag = response.headers.get("etag")
        if etag is not None and not etag.lstrip().startswith("W/"):
            response.headers["etag"] = "W/" + etag.strip()
        for name in ("content-md5", "digest", "repr-digest"):
            response.headers.pop(name, None)


def _is_full_page(flow: http.HTTPFlow, response: http.Response) -> bool:
    """A whole, buffered HTML page that was not refused: a link never goes in a part."""
    verdict = flow.metadata.get(VERDICT)
    return (
        flow.request.method == "GET"
        and response.status_code == 200
        and "content-range" not in response.headers
        and not response.stream
        and response.raw_content is not None
        and (verdict is None or verdict.action is not Action.BLOCK)
        and response.headers.get("content-type", "").lower().startswith("text/html")
    )
