"""The licence server end to end: a crawler finds it from robots.txt, obtains a JWT with
an independent OAuth 2.0 client (authlib), crawls with it, and loses it on revocation."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import aiohttp
import jwt
import pytest
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from harness import ROOT, Proxy, Upstream, start_proxy

from proxy.licensing import jwttokens

GPTBOT = "Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)"
CRAWLER = {"User-Agent": GPTBOT, "X-Forwarded-For": "20.171.206.7"}
RSL = "{https://rslstandard.org/rsl}"
LICENSE = (
    '<license xmlns="https://rslstandard.org/rsl">'
    '<permits type="usage">ai-train</permits></license>'
)


@dataclass
class Site:
    proxy: Proxy
    origin: str
    rules: Path
    state: Path
    secret: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _optout(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "proxy", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )


@pytest.fixture
async def site(upstream: Upstream, tmp_path: Path) -> AsyncIterator[Site]:
    port = _free_port()
    origin = f"http://127.0.0.1:{port}"
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    policy = (rules / "policy.yaml").read_text()
    policy = policy.replace(
        "  licence: https://label.example/licensing\n",
        f"  licence: {origin}/license.xml\n  rsl: {{path: /license.xml, server: {origin}/olp}}\n",
    ).replace(
        "rules:\n",
        f"licences:\n  server: {origin}/olp\n\nrules:\n"
        "  - {name: licensed-training, agent: GPTBot, action: licence}\n",
        1,
    )
    (rules / "policy.yaml").write_text(policy)
    added = _optout(
        "licensee", "add", "acme-ai", "--rules", str(rules), "--organisation", "Acme AI Ltd",
        "--agent", "GPTBot", "--usage", "ai-train", "--paths", "/page", "--price", "USD 250.00",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    secret = added.stdout.strip()
    assert secret
    assert secret not in (rules / "licensees.yaml").read_text()
    proxy = await start_proxy(
        upstream.url, tmp_path, "--trusted-proxies", "127.0.0.0/8", "--listen",
        f"127.0.0.1:{port}", rules=rules,
    )  # fmt: skip
    yield Site(proxy, origin, rules, tmp_path / "state", secret)
    if proxy.process.returncode is None:
        proxy.process.kill()
        await proxy.process.wait()


async def _get(url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers=headers) as response:
            return response.status, dict(response.headers), await response.read()


async def _post(url: str, data: Any, **kw: Any) -> tuple[int, dict[str, str], dict[str, Any]]:
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=data, **kw) as response:
            return response.status, dict(response.headers), json.loads(await response.read())


async def _discover(origin: str) -> str:
    """robots.txt `License:` → the RSL document → its `server` → the token endpoint."""
    _, _, robots = await _get(f"{origin}/robots.txt", CRAWLER)
    urls = [line.split(":", 1)[1].strip() for line in robots.decode().splitlines()
            if line.lower().startswith("license:")]  # fmt: skip
    assert urls == [f"{origin}/license.xml"]
    status, headers, document = await _get(urls[0], CRAWLER)
    assert status == 200
    assert headers["Content-Type"] == "application/rsl+xml"
    content = ElementTree.fromstring(document).find(f"{RSL}content[@url='/']")
    assert content is not None
    return f"{content.get('server')}/token"


def _fetch(token_url: str, secret: str, method: str, resource: str) -> dict[str, Any]:
    client = OAuth2Session("acme-ai", secret, token_endpoint_auth_method=method)
    token = client.fetch_token(token_url, grant_type="rsl", license=LICENSE, resource=resource)
    return dict(token)


async def test_a_crawler_obtains_uses_and_loses_a_licence(site: Site, upstream: Upstream) -> None:
    token_url = await _discover(site.origin)
    assert token_url == f"{site.origin}/olp/token"
    page = f"{site.origin}/page"
    for method in ("client_secret_basic", "client_secret_post"):
        token = await asyncio.to_thread(_fetch, token_url, site.secret, method, page)
        assert token["token_type"] == "License"
        assert token["expires_in"] > 0
    licensed = {**CRAWLER, "Authorization": f"License {token['access_token']}"}

    status, _, _ = await _get(f"{site.origin}/page", licensed)
    assert status == 200
    assert "/page" in upstream.requests
    status, headers, _ = await _get(f"{site.origin}/host", licensed)
    assert status == 401
    assert 'error="insufficient_scope"' in headers["WWW-Authenticate"]

    introspected = await asyncio.to_thread(
        OAuth2Session("acme-ai", site.secret).introspect_token,
        f"{site.origin}/olp/introspect",
        token=token["access_token"],
    )
    assert introspected.json()["active"] is True

    revoked = _optout("licensee", "revoke", "acme-ai", "--rules", str(site.rules))
    assert revoked.returncode == 0, revoked.stderr
    status, headers, _ = await _get(f"{site.origin}/page", licensed)
    assert status == 401
    assert "revoked" in headers["WWW-Authenticate"]
    with pytest.raises(OAuthError, match="invalid_grant"):
        await asyncio.to_thread(_fetch, token_url, site.secret, "client_secret_basic", page)

    records = await site.proxy.stop()
    pages = [r for r in records if r["url"]["path"] == "/page"]
    assert pages[0]["http"]["response"]["status_code"] == 200
    assert pages[0]["optout"]["licensee"] == "Acme AI Ltd"
    ledger = (site.state / "licences" / "ledger.jsonl").read_text()
    assert site.secret not in ledger
    assert token["access_token"] not in ledger
    summary = _optout(
        "licences", "summary", "--state", str(site.state), "--log", str(site.proxy.log), "--json"
    )
    assert summary.returncode == 0, summary.stderr
    [holder] = json.loads(summary.stdout)
    assert holder["client_id"] == "acme-ai"
    assert holder["grants"] == 2
    assert holder["revoked"]
    assert holder["requests"] == 1
    assert holder["fetched"] == {"/page": 1}
    assert holder["paid"][0]["amount"] == "500.00"


def _basic(client_id: str, secret: str) -> dict[str, str]:
    pair = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


# Each case: what is wrong with the request, and the RFC 6749 §5.2 answer to it.
ERRORS = [
    ("wrong-secret", 401, "invalid_client"),
    ("unknown-client", 401, "invalid_client"),
    ("no-credentials", 401, "invalid_client"),
    ("unsupported-grant", 400, "unsupported_grant_type"),
    ("json-body", 400, "invalid_request"),
    ("repeated-parameter", 400, "invalid_request"),
    ("no-resource", 400, "invalid_request"),
    ("outside-licences", 400, "invalid_scope"),
    ("other-site", 400, "invalid_target"),
]


async def test_token_endpoint_errors(site: Site) -> None:
    for case, status, error in ERRORS:
        await _token_error(site, case, status, error)


async def _token_error(site: Site, case: str, status: int, error: str) -> None:
    url = f"{site.origin}/olp/token"
    good = {"grant_type": "rsl", "license": LICENSE, "resource": f"{site.origin}/page"}
    auth = _basic("acme-ai", site.secret)
    kw: dict[str, Any] = {"headers": auth}
    data: Any = good
    if case == "wrong-secret":
        kw["headers"] = _basic("acme-ai", "not-the-secret")
    elif case == "unknown-client":
        kw["headers"] = _basic("nobody", site.secret)
    elif case == "no-credentials":
        kw = {}
    elif case == "unsupported-grant":
        data = {**good, "grant_type": "client_credentials"}
    elif case == "json-body":
        data, kw["headers"] = json.dumps(good), {**auth, "Content-Type": "application/json"}
    elif case == "repeated-parameter":
        data = [*good.items(), ("resource", f"{site.origin}/host")]
    elif case == "no-resource":
        data = {k: v for k, v in good.items() if k != "resource"}
    elif case == "outside-licences":
        data = {**good, "resource": f"{site.origin}/host"}
    elif case == "other-site":
        data = {**good, "resource": "https://elsewhere.example/page"}
    got, headers, body = await _post(url, data, **kw)
    assert (case, got, body["error"]) == (case, status, error)
    assert headers["Cache-Control"] == "no-store"
    if case in ("wrong-secret", "unknown-client"):
        assert headers["WWW-Authenticate"].startswith("Basic")


async def test_forged_tokens_are_refused(site: Site) -> None:
    status, _, keys = await _get(f"{site.origin}/olp/jwks.json", CRAWLER)
    assert status == 200
    [published] = json.loads(keys)["keys"]
    good = await _post(
        f"{site.origin}/olp/token",
        {"grant_type": "rsl", "license": LICENSE, "resource": f"{site.origin}/page"},
        headers=_basic("acme-ai", site.secret),
    )
    real = good[2]["access_token"]
    assert jwt.get_unverified_header(real)["kid"] == published["kid"]
    claims = jwt.decode(real, options={"verify_signature": False})
    other = jwttokens.generate_key()
    other_key = jwt.encode(claims, other, algorithm="EdDSA", headers={"kid": published["kid"]})
    head, _, signature = real.split(".")
    widened = {**claims, "paths": ["/"]}
    body = base64.urlsafe_b64encode(json.dumps(widened).encode()).rstrip(b"=").decode()
    altered = f"{head}.{body}.{signature}"
    for forged in (other_key, altered):
        status, headers, _ = await _get(
            f"{site.origin}/page", {**CRAWLER, "Authorization": f"License {forged}"}
        )
        assert status == 401
        assert 'error="invalid_token"' in headers["WWW-Authenticate"]
