"""The Olp addon: endpoints answered by the proxy, live licensees, the licence ledger."""

from __future__ import annotations

import base64
import json
import shutil
import urllib.parse
from pathlib import Path

import pytest
from flows import make_flow, run
from mitmproxy import http
from mitmproxy.test import taddons

from addons import default_addons
from proxy.engine.pipeline import Pipeline
from proxy.licensing.clients import hash_secret
from proxy.ruleset import load_rules
from proxy.store.logwriter import LogWriter

ROOT = Path(__file__).resolve().parents[2]
LICENSEE = """licensees:
  - client_id: acme-ai
    secret_hash: "{hash}"
    organisation: Acme AI Ltd
    agents: [GPTBot]
    licences: [{{usage: [ai-train], paths: [/music/]}}]
"""
LICENSE = '<license><permits type="usage">ai-train</permits></license>'


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    directory = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", directory)
    policy = (directory / "policy.yaml").read_text()
    policy = policy.replace(
        "rules:\n", "licences: {server: http://label.example/olp}\n\nrules:\n", 1
    )
    (directory / "policy.yaml").write_text(policy)
    (directory / "licensees.yaml").write_text(LICENSEE.format(hash=hash_secret("s")))
    return directory


@pytest.fixture
def pipe(rules: Path, tmp_path: Path) -> Pipeline:
    return Pipeline(
        load_rules(rules), LogWriter(str(tmp_path / "access.jsonl")), state_dir=tmp_path / "state"
    )


def _post(path: str, fields: dict[str, str], secret: str = "s") -> object:
    flow = make_flow(path=path)
    flow.request.method = "POST"
    flow.request.headers["content-type"] = "application/x-www-form-urlencoded"
    pair = base64.b64encode(f"acme-ai:{secret}".encode()).decode()
    flow.request.headers["authorization"] = f"Basic {pair}"
    flow.request.content = urllib.parse.urlencode(fields).encode()
    return flow


def _token_request(secret: str = "s") -> object:
    resource = "http://label.example/music/a"
    return _post(
        "/olp/token", {"grant_type": "rsl", "license": LICENSE, "resource": resource}, secret
    )


def _ledger(tmp_path: Path) -> list[dict[str, object]]:
    path = tmp_path / "state" / "licences" / "ledger.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_token_jwks_and_the_ledger(pipe: Pipeline, rules: Path, tmp_path: Path) -> None:
    addons = default_addons(pipe)
    with taddons.context(*addons):
        granted = _token_request()
        run(addons, granted)  # type: ignore[arg-type]
        assert granted.response.status_code == 200  # type: ignore[attr-defined]
        body = json.loads(granted.response.content)  # type: ignore[attr-defined]
        assert body["token_type"] == "License"
        keys = make_flow(path="/olp/jwks.json")
        run(addons, keys)
        assert len(json.loads(keys.response.content)["keys"]) == 1  # type: ignore[union-attr]
        posted = _post("/olp/jwks.json", {})
        run(addons, posted)  # type: ignore[arg-type]
        assert posted.response.status_code == 405  # type: ignore[attr-defined]
        refused = _token_request("wrong")
        run(addons, refused)  # type: ignore[arg-type]
        assert refused.response.status_code == 401  # type: ignore[attr-defined]
        # An invalid file is not applied: the last good licensees keep working.
        (rules / "licensees.yaml").write_text("licensees: 3\n")
        again = _token_request()
        run(addons, again)  # type: ignore[arg-type]
        assert again.response.status_code == 200  # type: ignore[attr-defined]
        revoked = LICENSEE.format(hash=hash_secret("s")) + "    revoked: true\n"
        (rules / "licensees.yaml").write_text(revoked)
        after = _token_request()
        run(addons, after)  # type: ignore[arg-type]
        assert json.loads(after.response.content)["error"] == "invalid_grant"  # type: ignore[attr-defined]
        for addon in addons:
            if hasattr(addon, "done"):
                addon.done()
    pipe.log.close()
    actions = [r["event"]["action"] for r in _ledger(tmp_path)]  # type: ignore[index]
    assert actions == [
        "licence-grant",
        "licence-refusal",  # the POST to the key set
        "licence-refusal",  # the wrong secret
        "licence-grant",
        "licence-revocation",
        "licence-refusal",
    ]
    assert "acme-ai:s" not in (tmp_path / "state" / "licences" / "ledger.jsonl").read_text()


def _not_found(flow: http.HTTPFlow) -> None:
    flow.response = http.Response.make(404)


def test_without_a_server_nothing_is_served(tmp_path: Path) -> None:
    pipe = Pipeline(load_rules(ROOT / "rules"), LogWriter(str(tmp_path / "a.jsonl")))
    addons = default_addons(pipe)
    with taddons.context(*addons):
        flow = _token_request()
        run(
            addons,
            flow,
            respond=lambda f: setattr(
                f, "response", __import__("mitmproxy").http.Response.make(404)
            ),
        )  # type: ignore[arg-type]
        assert flow.response.status_code == 404  # type: ignore[attr-defined]
    pipe.log.close()
