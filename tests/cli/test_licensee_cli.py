"""`optout licensee add|list|revoke` and `optout licence rotate|summary`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proxy.cli.main import main
from proxy.config.licensees import load_licensees
from proxy.licensing.clients import Registry, authenticate

ADD = ["--organisation", "Acme AI Ltd", "--agent", "GPTBot", "--usage", "ai-train"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_add_list_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = ["--rules", str(tmp_path)]
    (tmp_path / "licensees.yaml").write_text("# ours\nlicensees: []\n")
    code, secret, _ = run(capsys, "licensee", "add", "acme-ai", *ADD, "--price", "USD 5", *rules)
    assert code == 0
    text = (tmp_path / "licensees.yaml").read_text()
    assert text.startswith("# ours")
    assert secret.strip() not in text
    registry = load_licensees(tmp_path / "licensees.yaml")
    assert authenticate(registry, "acme-ai", secret.strip()) is not None
    code, _, err = run(capsys, "licensee", "add", "acme-ai", *ADD, *rules)
    assert (code, "already registered" in err) == (1, True)
    code, listing, _ = run(capsys, "licensee", "list", *rules)
    assert listing.split("\t")[:3] == ["acme-ai", "Acme AI Ltd", "active"]
    assert "scrypt" not in listing
    assert run(capsys, "licensee", "revoke", "acme-ai", "--jti", "j-9", *rules)[0] == 0
    assert load_licensees(tmp_path / "licensees.yaml").revoked("acme-ai", "j-9")
    assert run(capsys, "licensee", "revoke", "acme-ai", *rules)[0] == 0
    assert "revoked" in run(capsys, "licensee", "list", *rules)[1]
    assert run(capsys, "licensee", "revoke", "nobody", *rules)[0] == 1


def test_add_refuses_to_write_an_invalid_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "licensee", "add", "bad id", *ADD, "--rules", str(tmp_path))
    assert (code, out) == (1, "")
    assert "client_id" in err
    assert not (tmp_path / "licensees.yaml").exists()
    assert load_licensees(tmp_path / "licensees.yaml") == Registry()


def test_rotate_and_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = ["--state", str(tmp_path)]
    first = run(capsys, "licence", "rotate", *state)[1].strip()
    second = run(capsys, "licence", "rotate", *state)[1].strip()
    assert first != second
    assert len(list((tmp_path / "olp" / "keys").glob("*.pem"))) == 2
    assert run(capsys, "licences", "summary", *state)[0] == 2  # no ledger yet
    ledger = tmp_path / "licences" / "ledger.jsonl"
    ledger.parent.mkdir()
    grant = {
        "@timestamp": "2026-12-01T00:00:00.000Z",
        "event": {"action": "licence-grant"},
        "optout": {
            "licence": {
                "client_id": "acme-ai",
                "licensee": "Acme AI",
                "price": {"currency": "USD", "amount": "5"},
            }
        },
    }
    ledger.write_text(json.dumps(grant) + "\n")
    access = tmp_path / "access.jsonl"
    access.write_text(
        json.dumps({"url": {"path": "/m"}, "optout": {"licensee": "Acme AI", "rule": "licence"}})
        + "\n"
    )
    code, out, _ = run(capsys, "licences", "summary", *state, "--log", str(access), "--json")
    assert code == 0
    [holder] = json.loads(out)
    assert (holder["grants"], holder["requests"], holder["paid"][0]["amount"]) == (1, 1, "5")
    code, text, _ = run(capsys, "licences", "summary", *state, "--log", str(access))
    assert "acme-ai (Acme AI), active" in text
    assert "paid 2026-12: USD 5" in text
