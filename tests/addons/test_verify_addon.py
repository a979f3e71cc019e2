"""The Verify addon: answers at once when it can, awaits a lookup only when it must."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable
from pathlib import Path

import pytest
from flows import make_flow, pipeline
from mitmproxy import http
from mitmproxy.flow import Error

from addons.classify import Classify
from addons.verify import Verify
from proxy.engine.pipeline import CLASSIFICATION
from proxy.identity.clientaddr import parse_trusted
from proxy.identity.fcrdns import FcrdnsVerifier
from proxy.identity.verify import Verifier
from proxy.model import Identity
from proxy.ruleset import Ruleset


class Dns:
    async def ptr(self, ip: str) -> list[str]:
        return ["spider-5-255-253-1.yandex.ru"] if ip == "5.255.253.1" else []

    async def addresses(self, name: str) -> list[str]:
        return ["5.255.253.1"]


def _run(
    shipped: Ruleset, tmp_path: Path, ua: str, peer: str, **headers: str
) -> tuple[http.HTTPFlow, Awaitable[None] | None]:
    pipe = pipeline(shipped, tmp_path)
    pipe.verifier = Verifier(shipped.ipranges, FcrdnsVerifier(Dns(), timeout=0.5))
    pipe.trusted_proxies = parse_trusted(["10.0.0.0/8"])
    flow = make_flow(ua)
    flow.client_conn.peername = (peer, 4711)
    for name, value in headers.items():
        flow.request.headers[name.replace("_", "-")] = value
    Classify(pipe).requestheaders(flow)
    pending = Verify(pipe).requestheaders(flow)
    pipe.log.close()
    return flow, pending


async def test_ip_range_hit_is_answered_at_once(shipped: Ruleset, tmp_path: Path) -> None:
    flow, pending = _run(shipped, tmp_path, "GPTBot/1.2", "20.171.206.7")
    assert pending is None
    found = flow.metadata[CLASSIFICATION]
    assert (found.identity, found.method) == (Identity.VERIFIED, "ip-range:openai-gptbot")


async def test_browsers_never_wait(shipped: Ruleset, tmp_path: Path) -> None:
    flow, pending = _run(shipped, tmp_path, "Mozilla/5.0 Firefox/133.0", "198.51.100.1")
    assert pending is None
    assert flow.metadata[CLASSIFICATION].identity is Identity.NONE


async def test_reverse_dns_is_awaited(shipped: Ruleset, tmp_path: Path) -> None:
    flow, pending = _run(
        shipped, tmp_path, "Mozilla/5.0 (compatible; YandexBot/3.0)", "5.255.253.1"
    )
    assert inspect.isawaitable(pending)
    assert pending is not None
    await pending
    found = flow.metadata[CLASSIFICATION]
    assert (found.identity, found.method) == (Identity.VERIFIED, "fcrdns:yandex.ru")


async def test_client_behind_a_trusted_proxy(shipped: Ruleset, tmp_path: Path) -> None:
    flow, pending = _run(
        shipped, tmp_path, "GPTBot/1.2", "10.1.2.3", x_forwarded_for="6.6.6.6, 20.171.206.7"
    )
    assert pending is None
    assert flow.metadata[CLASSIFICATION].identity is Identity.VERIFIED
    assert flow.request.headers["x-forwarded-for"] == "6.6.6.6, 20.171.206.7, 10.1.2.3"


async def test_untrusted_forwarded_for_is_replaced(shipped: Ruleset, tmp_path: Path) -> None:
    flow, _ = _run(shipped, tmp_path, "GPTBot/1.2", "8.8.8.8", x_forwarded_for="20.171.206.7")
    assert flow.metadata[CLASSIFICATION].identity is Identity.SPOOFED
    assert flow.request.headers["x-forwarded-for"] == "8.8.8.8"


@pytest.mark.parametrize("state", ["answered", "failed", "not classified", "verification off"])
async def test_flows_it_cannot_or_need_not_verify_are_left_alone(
    shipped: Ruleset, tmp_path: Path, state: str
) -> None:
    # GPTBot from outside OpenAI's ranges: verifying it would find it spoofed.
    pipe = pipeline(shipped, tmp_path)
    pipe.verifier = Verifier(shipped.ipranges, FcrdnsVerifier(Dns(), timeout=0.5))
    flow = make_flow("GPTBot/1.2")
    flow.client_conn.peername = ("8.8.8.8", 4711)
    flow.request.headers["signature-input"] = 'sig1=("@authority");created=1'
    if state != "not classified":
        Classify(pipe).requestheaders(flow)
    before = dict(flow.metadata)
    if state == "answered":
        flow.response = http.Response.make(403)
    elif state == "failed":
        flow.error = Error("connection reset")
    elif state == "verification off":
        pipe.verifier = None
    assert Verify(pipe).requestheaders(flow) is None
    pipe.log.close()
    assert flow.metadata == before
